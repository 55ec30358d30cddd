"""The A/B asymmetry in the report: a figure per modality, a table and REPORT.md's sentence per dataset.

Reads the runs' ``asymmetry.csv`` (:mod:`fhbench.asymmetry`: per round and LoRA tensor, the
mean pairwise cosine similarity of the clients' updates). The runs are those of every figure of
kind ``asymmetry`` in the config (the figure, :func:`fhbench.reporting.figures.plot_asymmetry`,
and its sentences cover the same runs).

Outputs (:func:`report_targets`)::

    results/{name}/tables/asymmetry.{csv,md}   per (dataset, partition, method): A and B similarity, verdict
    results/{name}/asymmetry/report.md         the section REPORT.md includes after its figures

How a run's number is made: per (seed, round) the mean over the LoRA layers (NaN layers — no
two clients moved that tensor — left out, and counted), then the mean over rounds, then over
seeds. The verdict of a method on a dataset: **A more alike than B** when A's mean is higher
and A is higher in more than half of the rounds (seeds averaged per round), **B more alike**
the other way round, **neither consistently** otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fhbench.asymmetry import ASYMMETRY_COLUMNS, GROUP, per_round
from fhbench.metrics import RUN_KEYS

KIND = "asymmetry"  # the figure kind (fhbench.reporting.figures.FIGURES)
SUMMARY_COLUMNS = GROUP + [
    "modality",
    "seeds",
    "rounds",
    "cosine_A",
    "cosine_B",
    "difference",
    "rounds_A_higher",
    "norm_A",
    "norm_B",
    "nan_layers",
    "verdict",
]
A_MORE, B_MORE, NEITHER = "A more alike than B", "B more alike than A", "neither consistently"
# Where A's updates are this much smaller than B's the sentence says so: the directions of such
# small updates (B starts at 0, so A's gradient is small while B is) are weak evidence either way.
SMALL_UPDATES = 1e-3


# --- from the config (the workflow's params and targets) -------------------------------------------


def figure_names(config: dict) -> list[str]:
    return [name for name, fig in (config.get("figures") or {}).items() if fig["kind"] == KIND]


def report_runs(config: dict) -> list:
    """The runs of every ``asymmetry`` figure (fhbench.grid.RunKey), sorted."""
    from fhbench import grid

    return sorted({key for name in figure_names(config) for key in grid.figure_runs(config, name)})


def section_path(config: dict) -> str:
    from fhbench import grid

    return f"{grid.results_dir(config)}/asymmetry/report.md"


def table_paths(config: dict) -> list[str]:
    from fhbench import grid

    return [f"{grid.tables_dir(config)}/asymmetry.{ext}" for ext in ("csv", "md")]


def report_targets(config: dict) -> list[str]:
    """The table and the section, when some figure has kind ``asymmetry``; nothing otherwise."""
    return table_paths(config) + [section_path(config)] if figure_names(config) else []


def report_spec(config: dict) -> dict:
    """What the section needs (the rule's params): the figures it refers to and the runs it expects."""
    return {
        "figures": figure_names(config),
        "runs": [[k.dataset, k.partition, k.algorithm, k.variant, k.seed] for k in report_runs(config)],
    }


# --- numbers -----------------------------------------------------------------------------------------


def load(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ASYMMETRY_COLUMNS)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, partition, algorithm, variant): see the module docstring."""
    from fhbench.reporting.tables import dataset_modalities

    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    cosine, norm = per_round(frame, "cosine"), per_round(frame, "norm")
    modalities = dataset_modalities(frame["dataset"].unique())
    rows = []
    for key, runs in cosine.groupby(GROUP, sort=True):
        wide = runs.pivot_table(index=["seed", "round"], columns="matrix", values="value", aggfunc="first")
        by_seed = wide.groupby(level="seed").mean()
        by_round = wide.groupby(level="round").mean()  # seeds averaged per round
        both = by_round.dropna(subset=[m for m in ("A", "B") if m in by_round.columns])
        a = float(by_seed["A"].mean()) if "A" in by_seed else np.nan
        b = float(by_seed["B"].mean()) if "B" in by_seed else np.nan
        higher = int((both["A"] > both["B"]).sum()) if {"A", "B"} <= set(both.columns) else 0
        lower = int((both["A"] < both["B"]).sum()) if {"A", "B"} <= set(both.columns) else 0
        norms = norm.merge(pd.DataFrame([key], columns=GROUP), on=GROUP)
        norms = norms.groupby("matrix")["value"].mean()
        if a > b and higher > len(both) / 2:
            verdict = A_MORE
        elif b > a and lower > len(both) / 2:
            verdict = B_MORE
        else:
            verdict = NEITHER
        rows.append(
            dict(
                zip(GROUP, key),
                modality=modalities.get(key[0], "other"),
                seeds=int(runs["seed"].nunique()),
                rounds=len(both),
                cosine_A=a,
                cosine_B=b,
                difference=a - b,
                rounds_A_higher=higher,
                norm_A=float(norms.get("A", np.nan)),
                norm_B=float(norms.get("B", np.nan)),
                nan_layers=int(runs["nan_layers"].sum()),
                verdict=verdict,
            )
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _method(algorithm: str, variant: str) -> str:
    from fhbench.reporting.tables import method_label

    return method_label(algorithm, variant)


def table_markdown(summary: pd.DataFrame) -> str:
    lines = [
        "| dataset | modality | method | A: cosine | B: cosine | A − B | rounds A > B | A: norm | B: norm | seeds | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, r in summary.iterrows():
        lines.append(
            f"| {r['dataset']}/{r['partition']} | {r['modality']} | {_method(r['algorithm'], r['variant'])} | {r['cosine_A']:.3f} | "
            f"{r['cosine_B']:.3f} | {r['difference']:+.3f} | {r['rounds_A_higher']} of {r['rounds']} | {r['norm_A']:.3g} | "
            f"{r['norm_B']:.3g} | {r['seeds']} | {r['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def dataset_sentences(summary: pd.DataFrame) -> list[str]:
    """One sentence per dataset: under each method, is A more alike across clients than B, with the numbers."""
    sentences = []
    for (dataset, partition, modality), rows in summary.groupby(["dataset", "partition", "modality"], sort=True):
        parts = []
        for _, r in rows.iterrows():
            parts.append(
                f"under {_method(r['algorithm'], r['variant'])} {r['verdict']} (mean pairwise cosine of the round's updates "
                f"A {r['cosine_A']:.3f}, B {r['cosine_B']:.3f}; A higher in {r['rounds_A_higher']} of {r['rounds']} rounds)"
            )
        verdicts = set(rows["verdict"])
        if verdicts == {A_MORE}:
            lead = "A is more shared than B"
        elif verdicts == {B_MORE}:
            lead = "B is more shared than A"
        else:
            lead = "the methods disagree or neither is consistently more shared"
        sentence = f"- **{dataset}** ({modality}, {partition}): {lead}: " + "; ".join(parts) + "."
        small = rows[rows["norm_A"] < SMALL_UPDATES * rows["norm_B"]]
        if len(small):
            ratios = ", ".join(f"{_method(r['algorithm'], r['variant'])} {r['norm_A'] / r['norm_B']:.0e}" for _, r in small.iterrows())
            sentence += f" Caution: A's updates are tiny next to B's (mean norm ratio A/B: {ratios}), so its directions weigh little."
        sentences.append(sentence)
    return sentences


def section_markdown(summary: pd.DataFrame, spec: dict, missing: Sequence[str] = (), table_dir: str = "tables") -> str:
    """REPORT.md's section: the measure in words, one sentence per dataset, the table, what is missing."""
    figures = ", ".join(f"[{name}](figures/{name}.png)" for name in spec.get("figures", []))
    lines = [
        "## The A/B asymmetry (beyond the paper)",
        "",
        "Are LoRA's A matrices what clients share and B what is their own (the paper's untested hypothesis, "
        "FedSA-LoRA's finding)? Every round, for each LoRA tensor, each client's update over the round (after local "
        "training minus what it held at the round's start) is flattened; the number is the mean pairwise cosine "
        "similarity of these updates across the clients that trained (1: all move it the same way, 0: unrelated), "
        "averaged over the layers, the rounds and the seeds (fhbench.asymmetry). FedAvg shares both A and B, local "
        f"training neither. Figure: {figures or 'none configured'}; table: [asymmetry.md]({table_dir}/asymmetry.md).",
        "",
    ]
    if summary.empty:
        lines += ["No run of the asymmetry figures recorded any update (every run missing, diverged in round 1, or without LoRA).", ""]
    else:
        lines += dataset_sentences(summary) + [""]
        counts = summary["verdict"].value_counts()
        lines += [
            f"Over {len(summary)} dataset × method cell(s): {int(counts.get(A_MORE, 0))} A more alike, "
            f"{int(counts.get(B_MORE, 0))} B more alike, {int(counts.get(NEITHER, 0))} neither consistently "
            "(A more alike: a higher mean and higher in more than half of the rounds).",
            "",
            table_markdown(summary).rstrip(),
            "",
        ]
        nan = int(summary["nan_layers"].sum())
        if nan:
            lines += [f"{nan} (round, layer) value(s) are NaN (fewer than two clients moved that tensor) and left out of the means.", ""]
    if missing:
        lines += [f"{len(missing)} run(s) recorded nothing and are left out: {', '.join(missing)}.", ""]
    return "\n".join(lines)


def missing_runs(frame: pd.DataFrame, runs: Sequence[Sequence]) -> list[str]:
    """The expected runs without a single row (named dataset/partition/algorithm/variant/seedN)."""
    have = set(map(tuple, frame[RUN_KEYS].astype({"seed": "int64"}).drop_duplicates().itertuples(index=False))) if len(frame) else set()
    return [f"{d}/{p}/{a}/{v}/seed{s}" for d, p, a, v, s in runs if (d, p, a, v, int(s)) not in have]


def write_asymmetry_report(
    paths: Iterable[str | Path], spec: dict, csv_out: str | Path, md_out: str | Path, section_out: str | Path
) -> str:
    """Read the runs' ``asymmetry.csv``, write the table (CSV, Markdown) and the section; return the section."""
    from fhbench.io import write_texts

    frame = load(paths)
    summary = summarise(frame)
    section = section_markdown(summary, spec, missing_runs(frame, spec.get("runs", [])))
    write_texts(
        {
            csv_out: summary.to_csv(index=False),
            md_out: "# The A/B asymmetry: how alike the clients' A and B updates are\n\n" + table_markdown(summary),
            section_out: section,
        }
    )
    return section
