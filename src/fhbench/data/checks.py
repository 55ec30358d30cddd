"""Checks of raw source files that every reader shares: each names the file (and line) it refuses.

The prepared-data writer (:mod:`fhbench.data.prepared`) checks what is written (finite values,
labels, unique records, every part); these check what is read, where only the reader knows
the file: a table's rows, a recording's sample rate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fhbench.errors import InputError

RAW_TODO = "a raw file is damaged or not from the source: acquire it again (snakemake --forcerun acquire_data)"


def check_table(table: pd.DataFrame, path: str | Path, unique: str | None = None, header_lines: int = 1) -> pd.DataFrame:
    """A source table has rows, and ``unique`` (a column, or the index when it is the index's name) names each once.

    The error names the file and the line of the second occurrence (``header_lines`` lines precede the rows).
    """
    if table.empty:
        raise InputError(path, "holds no rows (a header only, or nothing)", RAW_TODO)
    if unique is not None:
        values = table.index.to_series() if unique == table.index.name else table[unique]
        twice = values.duplicated().to_numpy()
        if twice.any():
            row = int(twice.nonzero()[0][0])
            value = values.iloc[row]
            shown = repr(value.item() if hasattr(value, "item") else value)  # 1, not np.int64(1)
            raise InputError(f"{path}:{row + 1 + header_lines}", f"{unique} {shown} is listed twice", RAW_TODO)
    return table


def check_sample_rate(path: str | Path, rate: float, allowed: tuple[float, ...], what: str) -> None:
    """A recording's sample rate is one the source states (``what`` cites where)."""
    if not any(abs(rate - a) < 1e-6 for a in allowed):
        rates = ", ".join(f"{a:g}" for a in allowed)
        raise InputError(path, f"is sampled at {rate:g} Hz; {what} states {rates} Hz", RAW_TODO)
