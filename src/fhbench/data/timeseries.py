"""Shared treatment of the time-series datasets (PTB-XL ECG, ADFTD EEG).

docs/protocol.md §1: signals are linearly interpolated to the target rate, cut into non-overlapping
1 s windows, and every window is standardised per channel. Padding to MOMENT's 512 steps and
its input mask belong to the backbone, not to the prepared data.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def interpolate(x: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Linear interpolation of ``x`` (channels × time) from ``fs`` to ``target_fs``, per channel."""
    n = x.shape[-1]
    n_new = int(np.floor(n * target_fs / fs))
    t_old = np.arange(n) / fs
    t_new = np.arange(n_new) / target_fs
    return np.stack([np.interp(t_new, t_old, channel) for channel in x]).astype(np.float32)


def standardise(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Zero mean, unit variance along ``axis`` (a flat channel becomes zeros, not NaN)."""
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    return ((x - mean) / np.maximum(std, EPS)).astype(np.float32)


def windows(x: np.ndarray, length: int, count: int | None = None) -> np.ndarray:
    """Non-overlapping windows of ``length`` steps: (channels, T) → (n, channels, length).

    ``count`` caps the number of windows; the remainder after the last full window is dropped.
    """
    n = x.shape[-1] // length if count is None else count
    if n * length > x.shape[-1]:
        raise ValueError(f"a signal of {x.shape[-1]} steps cannot give {n} windows of {length}")
    return x[:, : n * length].reshape(x.shape[0], n, length).transpose(1, 0, 2)


def standardised_windows(x: np.ndarray, length: int, count: int | None = None) -> np.ndarray:
    """Windows, each standardised per channel (float32)."""
    return standardise(windows(x, length, count), axis=-1)
