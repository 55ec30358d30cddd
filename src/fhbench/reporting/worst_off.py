"""The worst-off clients: their rows under every table and accuracy against client training size.

A mean over clients hides the sites a method fails. Every table cell also carries ``bottom10``
(the mean of the worst 10% of clients, at least one: :func:`fhbench.metrics.bottom10`) and
``worst`` (the lowest client), each averaged over seeds; :func:`worst_off_markdown` prints them
under the Markdown table. :func:`fhbench.reporting.figures.plot_client_size` draws each client's score against its
training size (read from the runs' ``run.json``), one panel per dataset and partition, one
colour per method: where a quantity-skewed split leaves some clients little data, it shows
which methods leave them behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from fhbench.metrics import RUN_KEYS


def worst_off_markdown(table: pd.DataFrame) -> str:
    """Per method and column: ``bottom10 (worst)`` in percent, averaged over seeds."""
    if "bottom10" not in table.columns or table["bottom10"].isna().all():
        return ""
    columns = list(dict.fromkeys(table["column"]))
    cells = {(m, c): (b, w) for m, c, b, w in zip(table["method"], table["column"], table["bottom10"], table["worst"])}
    lines = ["| method | " + " | ".join(columns) + " |", "|" + "|".join([":---"] + [":---:"] * len(columns)) + "|"]
    for method in dict.fromkeys(table["method"]):
        row = []
        for column in columns:
            b, w = cells.get((method, column), (float("nan"), float("nan")))
            row.append("–" if pd.isna(b) else f"{100 * b:.2f} ({100 * w:.2f})")
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    note = (
        "Worst-off clients: mean test score (%) of the worst 10% of clients (at least one) at their best validation "
        "round, the single worst client in brackets; per run, then averaged over seeds."
    )
    return "\n" + note + "\n\n" + "\n".join(lines) + "\n"


def client_sizes(info_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Each run's clients and their training sizes, from the ``train_sizes`` its ``run.json`` records."""
    rows = []
    for path in info_paths:
        info = json.loads(Path(path).read_text())
        config = info["config"]
        for client, size in enumerate(info.get("train_sizes", [])):
            rows.append((*(config[k] for k in RUN_KEYS), client, int(size)))
    return pd.DataFrame(rows, columns=RUN_KEYS + ["client", "train_size"])


def size_scores(metrics: pd.DataFrame, sizes: pd.DataFrame, eval_point: str = "local") -> pd.DataFrame:
    """Per run and client: its protocol score (test accuracy at the round the selection rule picks) and training size."""
    from fhbench.reporting.selection import client_scores

    scores = client_scores(metrics, "accuracy", eval_point)[RUN_KEYS + ["client", "value"]]
    return scores.astype({"seed": "int64"}).merge(sizes.astype({"seed": "int64"}), on=RUN_KEYS + ["client"], how="inner")
