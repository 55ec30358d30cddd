"""Tiny hand-made tidy metrics with known protocol scores, for the reporting tests.

A run's score (mean over clients of the test accuracy at the best validation round) is exactly
``score(algorithm, variant, partition, seed)``: validation accuracy rises every round, so the
best round is the last; test accuracy climbs linearly to the score at the last round; clients
alternate ±``spread`` around it (an even number of clients, so the mean is the score).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import pandas as pd

from fhbench.metrics import METRIC_COLUMNS


def tidy_metrics(
    runs: Iterable[Sequence],
    score: Callable[[str, str, str, str, int], float],
    rounds: int = 4,
    clients: int = 4,
    spread: float = 0.05,
    bytes_per_client: Callable[[str, str], int] = lambda algorithm, variant: 1000,
) -> pd.DataFrame:
    """Rows for every (run, round, client): val/test accuracy, balanced accuracy, macro-F1, train loss and comm bytes."""
    rows = []
    for dataset, partition, algorithm, variant, seed in runs:
        final = score(dataset, partition, algorithm, variant, seed)
        key = (dataset, partition, algorithm, variant, seed)
        for r in range(1, rounds + 1):
            for c in range(clients):
                offset = spread if c % 2 == 0 else -spread
                test = final * (0.5 + 0.5 * r / rounds) + offset
                rows.append((*key, r, c, "train", "loss", 1.0 / r))
                for metric, value in (("accuracy", test), ("balanced_accuracy", test - 0.1), ("macro_f1", test - 0.2)):
                    rows.append((*key, r, c, "test", metric, value))
                    rows.append((*key, r, c, "val", metric, 0.1 * r))
                nbytes = bytes_per_client(algorithm, variant)
                rows.append((*key, r, c, "comm", "upload_bytes", nbytes))
                rows.append((*key, r, c, "comm", "download_bytes", nbytes))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)
