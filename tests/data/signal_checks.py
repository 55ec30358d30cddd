"""Checks shared by the signal dataset tests."""

from __future__ import annotations

import numpy as np


def held_out_accuracy(inputs: np.ndarray, labels: np.ndarray, bands: int = 64) -> float:
    """Accuracy of a linear classifier on log band energies, trained on one half, scored on the other.

    A demo twin whose classes a plain spectral classifier separates is one a small network can
    learn within a few federated rounds.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(inputs, dtype=np.float64)
    x = x.reshape(len(x), -1, x.shape[-1])  # (N, channels, T)
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    edges = np.linspace(0, power.shape[-1], bands + 1).astype(int)
    features = np.log1p(np.stack([power[..., a:b].sum(-1) for a, b in zip(edges[:-1], edges[1:])], -1)).reshape(len(x), -1)
    features = (features - features.mean(0)) / (features.std(0) + 1e-9)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[: len(x) // 2], order[len(x) // 2 :]
    model = LogisticRegression(max_iter=2000).fit(features[train], labels[train])
    return float((model.predict(features[test]) == labels[test]).mean())
