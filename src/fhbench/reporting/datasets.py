"""The dataset table and per-client label-distribution figures, from prepared data and splits.

Both read only ``info.json`` of a prepared folder and a partition JSON (whose clients carry
their per-split ``class_counts``), so they cost nothing next to the data they describe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from fhbench.io import atomic_path, write_texts

SPLITS = ("train", "val", "test")
COLUMNS = [
    "dataset",
    "partition",
    "modality",
    "classes",
    "pooled_size",
    "used_size",
    "clients",
    "client_size_min",
    "client_size_median",
    "client_size_max",
    "single_class_clients",
    "client_sizes",
    # Realised per-client part sizes and pooled shares of each part (the 40/30/30 cut rounds per class).
    *[f"{s}_{q}" for s in SPLITS for q in ("min", "median", "max")],
    *[f"{s}_share" for s in SPLITS],
    # A client's majority class: its share of the client's data against its share of the client's
    # test part (mean over clients with a test part). A test part richer in the main class than
    # the data favours methods that predict it.
    "majority_share_data",
    "majority_share_test",
]


def part_class_counts(split: dict, part: str) -> np.ndarray:
    """Clients × classes matrix of sample counts in one part (``train``, ``val`` or ``test``)."""
    n_classes = int(split["n_classes"])
    rows = [c["class_counts"][part] for c in split["clients"]]
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), n_classes)


def majority_shares(split: dict) -> tuple[float, float]:
    """Mean over clients of their majority class's share of their data and of their test part
    (clients without test samples left out of the second mean)."""
    counts = client_class_counts(split)
    test = part_class_counts(split, "test")
    has_data, has_test = counts.sum(1) > 0, test.sum(1) > 0
    majority = counts.argmax(1)
    rows = np.arange(len(counts))
    data_share = counts[rows, majority][has_data] / counts.sum(1)[has_data]
    test_share = test[rows, majority][has_test] / test.sum(1)[has_test]
    mean = lambda x: float(x.mean()) if len(x) else float("nan")  # noqa: E731
    return mean(data_share), mean(test_share)


def client_class_counts(split: dict) -> np.ndarray:
    """Clients × classes matrix of sample counts over all three parts of each client."""
    n_classes = int(split["n_classes"])
    rows = [np.sum([c["class_counts"][s] for s in SPLITS], axis=0) for c in split["clients"]]
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), n_classes)


def dataset_row(prepared_dir: str | Path, split_path: str | Path, dataset: str, partition: str) -> dict:
    """One table row: what the dataset is and how its split distributes it."""
    info = json.loads((Path(prepared_dir) / "info.json").read_text())
    split = json.loads(Path(split_path).read_text())
    counts = client_class_counts(split)
    sizes = counts.sum(axis=1)
    return {
        "dataset": dataset,
        "partition": partition,
        "modality": info["modality"],
        "classes": int(info["n_classes"]),
        "pooled_size": int(info["n_samples"]),
        "used_size": int(sizes.sum()),
        "clients": len(sizes),
        "client_size_min": int(sizes.min()),
        "client_size_median": float(np.median(sizes)),
        "client_size_max": int(sizes.max()),
        "single_class_clients": int(((counts > 0).sum(axis=1) == 1).sum()),
        "client_sizes": ";".join(str(int(n)) for n in sizes),
        **part_stats(split),
    }


def part_stats(split: dict) -> dict:
    """Per part: min/median/max of the clients' realised sizes and the part's share of all samples;
    and the majority class's share of the data against its share of the test parts."""
    out: dict = {}
    sizes = {s: part_class_counts(split, s).sum(1) for s in SPLITS}
    total = sum(int(v.sum()) for v in sizes.values())
    for s in SPLITS:
        out[f"{s}_min"], out[f"{s}_median"], out[f"{s}_max"] = int(sizes[s].min()), float(np.median(sizes[s])), int(sizes[s].max())
    for s in SPLITS:
        out[f"{s}_share"] = float(sizes[s].sum() / total) if total else float("nan")
    out["majority_share_data"], out["majority_share_test"] = majority_shares(split)
    return out


def dataset_table(entries: Iterable[tuple[str, str, str | Path, str | Path]]) -> pd.DataFrame:
    """Rows for (dataset, partition, prepared folder, split JSON) entries, in the given order."""
    return pd.DataFrame([dataset_row(prep, split, d, p) for d, p, prep, split in entries], columns=COLUMNS)


def _size_cell(row: pd.Series) -> str:
    return f"{row.client_size_min}–{row.client_size_max} (median {row.client_size_median:g})"


def _part_cell(row, part: str, dash: str = "–") -> str:
    return f"{getattr(row, part + '_min')}{dash}{getattr(row, part + '_max')} ({getattr(row, part + '_median'):g})"


def _shares_cell(row, sep: str = "/") -> str:
    return sep.join(f"{100 * getattr(row, s + '_share'):.0f}" for s in SPLITS)


def _majority_cell(row, arrow: str = "→", pct: str = "%") -> str:
    return f"{100 * row.majority_share_data:.0f}{pct} {arrow} {100 * row.majority_share_test:.0f}{pct}"


def to_markdown(table: pd.DataFrame) -> str:
    view = pd.DataFrame(
        {
            "dataset": table["dataset"],
            "partition": table["partition"],
            "modality": table["modality"],
            "classes": table["classes"],
            "pooled": table["pooled_size"],
            "used": table["used_size"],
            "clients": table["clients"],
            "samples per client": [_size_cell(r) for r in table.itertuples()],
            "single-class clients": table["single_class_clients"],
            **{f"{s} per client": [_part_cell(r, s) for r in table.itertuples()] for s in SPLITS},
            "train/val/test %": [_shares_cell(r) for r in table.itertuples()],
            "majority class: data → test": [_majority_cell(r) for r in table.itertuples()],
        }
    )
    header = (
        "# Datasets and client splits\n\nPooled: prepared samples; used: samples held by the clients (after datapercent). "
        "Per part: the clients' realised sizes, min–max (median), and the part's share of the used samples. Majority "
        "class: each client's most frequent class, its share of the client's data → its share of the client's test "
        "part (mean over clients); a test part richer in the main class than the data favours methods that predict it. "
        "The published `fhbench` cut rounds each class's train and test counts down and sends the remainders to "
        "validation; `fhbench_balanced` cuts each class by largest remainder.\n\n"
    )
    return header + view.to_markdown(index=False) + "\n"


def _tex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text


def to_latex(table: pd.DataFrame) -> str:
    """A booktabs tabular (no jinja2-dependent pandas Styler needed)."""
    head = ["Dataset", "Partition", "Modality", "Classes", "Pooled", "Used", "Clients", "Samples/client (median)", "Single-class"]
    head += ["Train/client", "Val/client", "Test/client", "Train/val/test (%)", "Majority: data / test (%)"]
    lines = [r"\begin{tabular}{lllrrrrlrllllr}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for r in table.itertuples():
        cells = [
            r.dataset,
            r.partition,
            r.modality,
            str(r.classes),
            f"{r.pooled_size:,}",
            f"{r.used_size:,}",
            str(r.clients),
            f"{r.client_size_min}--{r.client_size_max} ({r.client_size_median:g})",
            str(r.single_class_clients),
            *[_part_cell(r, s, "--") for s in SPLITS],
            _shares_cell(r),
            _majority_cell(r, arrow="/", pct=""),
        ]
        lines.append(" & ".join(_tex_escape(str(c)) for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_dataset_table(
    entries: Iterable[tuple[str, str, str | Path, str | Path]], csv_out: str | Path, md_out: str | Path, tex_out: str | Path
) -> pd.DataFrame:
    table = dataset_table(entries)
    write_texts({csv_out: table.to_csv(index=False), md_out: to_markdown(table), tex_out: to_latex(table)})
    return table


def plot_split(
    prepared_dir: str | Path, split_path: str | Path, pdf_out: str | Path, png_out: str | Path, title: str | None = None
) -> np.ndarray:
    """Stacked bars: per client (x), its samples of each class (colours). Returns the counts plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = json.loads((Path(prepared_dir) / "info.json").read_text())
    split = json.loads(Path(split_path).read_text())
    counts = client_class_counts(split)
    names = info.get("class_names") or [str(c) for c in range(counts.shape[1])]
    labels = [str(c.get("group", i)) for i, c in enumerate(split["clients"])]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.3 * len(labels) + 2.5), 3.2))
    cmap = plt.get_cmap("tab20" if counts.shape[1] > 10 else "tab10")
    bottom = np.zeros(len(labels))
    for c in range(counts.shape[1]):
        ax.bar(np.arange(len(labels)), counts[:, c], bottom=bottom, color=cmap(c % cmap.N), label=names[c], width=0.85)
        bottom += counts[:, c]
    natural = any("group" in c for c in split["clients"])  # clients named by their group
    ax.set_xticks(np.arange(len(labels)), labels, rotation=90 if natural or len(labels) > 20 else 0, fontsize=7)
    ax.set_xlabel(split.get("params", {}).get("group", "group") if natural else "client")
    ax.set_ylabel("samples")
    ax.set_title(title or f"{info.get('dataset', '')}: {split['scheme']} split", fontsize=9)
    ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    fig.tight_layout()
    # No creation date in the files, so a rerun writes identical bytes.
    with atomic_path(pdf_out) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
    with atomic_path(png_out) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    plt.close(fig)
    return counts
