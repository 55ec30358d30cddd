"""What tuning changed: the trials table, tuned against default test accuracy, the ranking
change, the compute tuning cost, and one sensitivity figure per method (:mod:`fhbench.tuning`).

Outputs (:func:`report_targets`)::

    results/{name}/tables/tuning_trials.csv          one row per (experiment, group, trial); hp.<name> columns
    results/{name}/tables/tuned_vs_default.{csv,md}  per method and dataset: default vs tuned test accuracy
    results/{name}/tables/tuning_compute.{csv,md}    CPU/GPU seconds of the trials beside the final runs'
    results/{name}/figures/tuning_sensitivity_{algorithm}.{png,pdf}
    results/{name}/tuning/report.md                  the section REPORT.md includes

Test accuracy is the protocol's figure (each client's test score at its best validation round,
averaged over clients; :func:`fhbench.reporting.tables.seed_scores`), mean ± std over seeds;
diverged seeds leave the mean and are counted. The ranking compares, per tuned experiment, the
methods' average rank over its (dataset, partition) columns with default and with tuned values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fhbench import grid, tuning
from fhbench.io import write_texts
from fhbench.reporting.tables import load_metrics, seed_scores

TABLES = ("tuning_trials.csv", "tuned_vs_default.csv", "tuned_vs_default.md", "tuning_compute.csv", "tuning_compute.md")
FIGURE_FORMATS = ("png", "pdf")


def section_path(config: dict) -> str:
    return f"{grid.results_dir(config)}/tuning/report.md"


def sensitivity_paths(config: dict) -> dict[str, list[str]]:
    """Per tuned algorithm: its sensitivity figure (PNG, PDF)."""
    algorithms = sorted({a for _, _, a in tuning.groups(config)})
    return {a: [f"{grid.figures_dir(config)}/tuning_sensitivity_{a}.{ext}" for ext in FIGURE_FORMATS] for a in algorithms}


def report_targets(config: dict) -> list[str]:
    figures = [p for paths in sensitivity_paths(config).values() for p in paths]
    return [f"{grid.tables_dir(config)}/{t}" for t in TABLES] + figures + [section_path(config)]


def report_spec(config: dict) -> dict:
    """What the tuning report needs from the config (the rule's params)."""
    settings = tuning.settings(config)
    experiments = {}
    for name in tuning.tuned_experiments(config):
        exp = config["experiments"][name]
        experiments[name] = {
            "title": exp.get("title", name),
            "datasets": list(exp["datasets"]),
            "partitions": list(exp["partitions"]),
            "algorithms": list(exp["algorithms"]),
            "references": [a for a in exp.get("references", []) if a not in exp["algorithms"]],
            "eval_point": exp.get("eval_point", "local"),
            "seeds": [int(s) for s in exp.get("seeds", config["seeds"])],
            "groups": [list(g) for g in tuning.experiment_groups(config, name)],
        }
    algorithms = sorted({a for _, _, a in tuning.groups(config)})
    spaces = {
        a: {
            n: {"scale": d.scale, "range": d.describe(), "reason": d.reason, "relative": d.relative, "bounds": [d.low, d.high]}
            for n, d in tuning.search_space(config, a).items()
        }
        for a in algorithms
    }
    # What a relative range multiplies, per algorithm and dataset: the figure draws those as factors.
    configured = {
        a: {
            d: {n: tuning.configured_values(config, d, a)[n] for n, dim in tuning.search_space(config, a).items() if dim.relative}
            for d, _, b in tuning.groups(config)
            if b == a
        }
        for a in algorithms
    }
    keep = ("trials", "rounds", "seeds", "score", "sampler")
    return {"settings": {k: settings[k] for k in keep}, "experiments": experiments, "spaces": spaces, "configured": configured}


# --- tables ---------------------------------------------------------------------------------


def selected_text(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def tuned_vs_default(metrics: pd.DataFrame, spec: dict, selections: dict[tuple[str, str, str], dict]) -> pd.DataFrame:
    """Per tuned experiment, dataset, partition and method: test accuracy mean ± std over seeds
    with default and with tuned values, seeds counted (diverged ones apart), the selected values."""
    rows = []
    for experiment, exp in spec["experiments"].items():
        scores = seed_scores(metrics, "accuracy", exp["eval_point"])
        scores = scores[scores["seed"].astype(int).isin(exp["seeds"])]
        for dataset, partition, algorithm in exp["groups"]:
            row = {"experiment": experiment, "dataset": dataset, "partition": partition, "algorithm": algorithm}
            row["reference"] = algorithm in exp["references"]
            for variant in ("default", grid.TUNED):
                runs = scores[
                    (scores["dataset"] == dataset)
                    & (scores["partition"] == partition)
                    & (scores["algorithm"] == algorithm)
                    & (scores["variant"] == variant)
                ]
                kept = runs.loc[~runs["diverged"], "score"].dropna()
                row[f"{variant}_mean"] = float(kept.mean()) if len(kept) else math.nan
                row[f"{variant}_std"] = float(kept.std()) if len(kept) > 1 else math.nan
                row[f"{variant}_seeds"] = int(len(kept))
                row[f"{variant}_diverged"] = int(runs["diverged"].sum())
                row[f"{variant}_missing"] = len(exp["seeds"]) - len(runs)
            row["difference"] = row["tuned_mean"] - row["default_mean"]
            selection = selections.get((dataset, partition, algorithm), {})
            row["selected_trial"] = selection.get("selected")
            row["selected"] = selected_text(selection.get("values", {}))
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean: float, std: float, seeds: int) -> str:
    if math.isnan(mean):
        return "–"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if seeds > 1 and not math.isnan(std) else "")


def _counts(row: pd.Series, variant: str) -> str:
    notes = []
    if row[f"{variant}_diverged"]:
        notes.append(f"{row[f'{variant}_diverged']} diverged")
    if row[f"{variant}_missing"]:
        notes.append(f"{row[f'{variant}_missing']} missing")
    return f" ({', '.join(notes)})" if notes else ""


def tuned_vs_default_markdown(table: pd.DataFrame) -> str:
    lines = [
        "# Tuned against default hyperparameters",
        "",
        "Test accuracy (%) at each client's best validation round, averaged over clients; mean ± std over seeds. "
        "Tuned: the values its trials selected on validation only (`tuning_trials.csv`).",
        "",
        "| experiment | dataset | method | default | tuned | tuned − default | selected |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for _, r in table.iterrows():
        method = r["algorithm"] + (" (reference)" if r["reference"] else "")
        diff = "–" if math.isnan(r["difference"]) else f"{100 * r['difference']:+.1f}"
        lines.append(
            f"| {r['experiment']} | {r['dataset']}/{r['partition']} | {method} | "
            f"{_cell(r['default_mean'], r['default_std'], r['default_seeds'])}{_counts(r, 'default')} | "
            f"{_cell(r['tuned_mean'], r['tuned_std'], r['tuned_seeds'])}{_counts(r, 'tuned')} | {diff} | {r['selected']} |"
        )
    return "\n".join(lines) + "\n"


def average_ranks(table: pd.DataFrame, variant: str) -> pd.Series:
    """Per method (references left out): its rank in each (dataset, partition) column by mean
    test accuracy (1 = best, ties averaged), averaged over the columns every method has."""
    methods = table[~table["reference"]]
    wide = methods.pivot_table(index=["dataset", "partition"], columns="algorithm", values=f"{variant}_mean").dropna()
    if wide.empty:
        return pd.Series(dtype=float)
    return wide.rank(axis=1, ascending=False, method="average").mean().sort_values()


def ranking_change(table: pd.DataFrame) -> dict:
    """How the ordering of the methods changes from default to tuned values.

    ``spearman``: rank correlation of the two average-rank vectors (NaN with fewer than three
    methods, or when one ordering is all ties); ``moves``: per method, its place with default
    values, with tuned values, and the places gained (positive = moved up).
    """
    from scipy.stats import spearmanr

    default, tuned = average_ranks(table, "default"), average_ranks(table, grid.TUNED)
    methods = sorted(set(default.index) & set(tuned.index))
    if not methods:
        return {"methods": [], "spearman": math.nan, "moves": pd.DataFrame(), "changed": False}
    default, tuned = default[methods], tuned[methods]
    place_default = default.rank(method="min").astype(int)
    place_tuned = tuned.rank(method="min").astype(int)
    moves = pd.DataFrame(
        {
            "method": methods,
            "default_avg_rank": default.values,
            "tuned_avg_rank": tuned.values,
            "default_place": place_default.values,
            "tuned_place": place_tuned.values,
        }
    )
    moves["places_gained"] = moves["default_place"] - moves["tuned_place"]
    moves = moves.sort_values(["tuned_place", "method"]).reset_index(drop=True)
    rho = math.nan
    if len(methods) >= 3 and default.nunique() > 1 and tuned.nunique() > 1:
        rho = float(spearmanr(default.values, tuned.values).statistic)
    return {"methods": methods, "spearman": rho, "moves": moves, "changed": bool((moves["places_gained"] != 0).any())}


def _is_gpu(info: dict) -> bool:
    return "gpu_peak_mb" in info or str(info.get("config", {}).get("device", "")).startswith("cuda")


def compute_table(trial_infos: Sequence[dict], final_infos: Sequence[dict], spec: dict) -> pd.DataFrame:
    """Per tuned experiment and method: the trials' CPU and GPU seconds (from their run.json)
    beside those of the experiment's final (tuned) runs and of its default runs. GPU seconds are
    the wall seconds of runs on a CUDA device. A group shared by two tuned experiments is
    counted in each."""

    def key(info: dict) -> tuple:
        c = info.get("config", {})
        return c.get("dataset"), c.get("partition"), c.get("algorithm")

    def cost(infos: list[dict]) -> dict:
        rounds = sum(int(i.get("config", {}).get("rounds", 0)) for i in infos)
        cpu = float(sum(i.get("cpu_seconds", 0.0) for i in infos))
        return {
            "runs": len(infos),
            "cpu_s": round(cpu, 1),
            "gpu_s": round(float(sum(i.get("wall_seconds", 0.0) for i in infos if _is_gpu(i))), 1),
            "cpu_s_per_round": round(cpu / rounds, 3) if rounds else math.nan,
        }

    rows = []
    for experiment, exp in spec["experiments"].items():
        groups = {tuple(g) for g in exp["groups"]}
        seeds = set(exp["seeds"])
        for algorithm in exp["algorithms"] + exp["references"]:
            mine = {g for g in groups if g[2] == algorithm}
            trials = [i for i in trial_infos if key(i) in mine]
            finals = [i for i in final_infos if key(i) in mine and int(i["config"]["seed"]) in seeds]
            parts = {
                "tuning": cost(trials),
                "tuned": cost([i for i in finals if i["config"].get("variant") == grid.TUNED]),
                "default": cost([i for i in finals if i["config"].get("variant") == "default"]),
            }
            row = {"experiment": experiment, "algorithm": algorithm}
            for part, values in parts.items():
                row.update({f"{part}_{k}": v for k, v in values.items()})
            row["tuning_over_tuned_cpu"] = round(row["tuning_cpu_s"] / row["tuned_cpu_s"], 2) if row["tuned_cpu_s"] else math.nan
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    total = {"experiment": "all", "algorithm": "all"}
    for part in ("tuning", "tuned", "default"):
        for k in ("runs", "cpu_s", "gpu_s"):
            total[f"{part}_{k}"] = round(frame[f"{part}_{k}"].sum(), 1) if k != "runs" else int(frame[f"{part}_{k}"].sum())
        total[f"{part}_cpu_s_per_round"] = math.nan
    total["tuning_over_tuned_cpu"] = round(total["tuning_cpu_s"] / total["tuned_cpu_s"], 2) if total["tuned_cpu_s"] else math.nan
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def compute_markdown(frame: pd.DataFrame) -> str:
    lines = [
        "# Compute spent on tuning",
        "",
        "CPU seconds (and GPU seconds: wall time of runs on a CUDA device) summed from the runs' own `run.json`; "
        "per round = CPU seconds over the rounds the runs were configured for.",
        "",
        "| experiment | method | trial runs | tuning CPU s | tuning GPU s | tuned runs | tuned CPU s | tuned GPU s | "
        "default runs | default CPU s | tuning / tuned CPU | CPU s per round: trial / final |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def num(x) -> str:
        return "–" if isinstance(x, float) and math.isnan(x) else f"{x:g}"

    for _, r in frame.iterrows():
        lines.append(
            f"| {r['experiment']} | {r['algorithm']} | {r['tuning_runs']} | {num(r['tuning_cpu_s'])} | {num(r['tuning_gpu_s'])} | "
            f"{r['tuned_runs']} | {num(r['tuned_cpu_s'])} | {num(r['tuned_gpu_s'])} | {r['default_runs']} | {num(r['default_cpu_s'])} | "
            f"{num(r['tuning_over_tuned_cpu'])} | {num(r['tuning_cpu_s_per_round'])} / {num(r['tuned_cpu_s_per_round'])} |"
        )
    return "\n".join(lines) + "\n"


# --- figure ---------------------------------------------------------------------------------


def plot_sensitivity(trials: pd.DataFrame, algorithm: str, space: dict[str, dict], configured: dict | None = None, title: str = ""):
    """Validation score against each tuned hyperparameter over the method's trials: one panel per
    hyperparameter, one colour per (dataset, partition), the selected trial ringed. Trials
    without a score (diverged) are drawn at the bottom edge as crosses and counted. A relative
    range (lr) is drawn as the factor of each dataset's configured value (``configured``:
    dataset → name → value), so that datasets share one axis."""
    from matplotlib.ticker import NullFormatter

    from fhbench.reporting.figures import _panels

    configured = configured or {}

    sub = trials[trials["algorithm"] == algorithm].drop_duplicates(["dataset", "partition", "trial"])
    names = [n for n in space if f"hp.{n}" in sub.columns]
    fig, axes = _panels(max(1, len(names)), width=4.0, height=3.0)
    groups = list(dict.fromkeys(zip(sub["dataset"], sub["partition"])))
    colours = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    scored = sub["val_score"].dropna()
    floor = float(scored.min()) if len(scored) else 0.0
    for ax, name in zip(axes, names):
        dim = space[name]
        values = sub[f"hp.{name}"]
        if dim["scale"] == "choice":
            levels = list(dict.fromkeys(str(v) for v in values))
            x = values.astype(str).map({v: i for i, v in enumerate(levels)}).astype(float)
            x = x + (np.arange(len(x)) % 5 - 2) * 0.04  # spread equal choices a little
            ax.set_xticks(range(len(levels)), levels)
        else:
            x = values.astype(float)
            if dim.get("relative"):
                x = x / sub["dataset"].map({d: float(configured.get(d, {}).get(name, 1.0)) for d in sub["dataset"].unique()})
            if dim["scale"] == "log":
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            low, high = dim.get("bounds") or (None, None)
            if low is not None:  # the whole searched range, so that where the trials fell shows
                pad = (high / low) ** 0.04 if dim["scale"] == "log" else None
                ax.set_xlim(*((low / pad, high * pad) if pad else (low - 0.04 * (high - low), high + 0.04 * (high - low))))
        for group in groups:
            mask = (sub["dataset"] == group[0]).values & (sub["partition"] == group[1]).values
            ok = mask & sub["val_score"].notna().values
            ax.scatter(x[ok], 100 * sub.loc[ok, "val_score"], s=22, color=colours[group], label=f"{group[0]}/{group[1]}")
            bad = mask & sub["val_score"].isna().values
            if bad.any():
                ax.scatter(x[bad], [100 * floor] * int(bad.sum()), marker="x", color=colours[group])
            chosen = mask & sub["selected"].astype(bool).values & sub["val_score"].notna().values
            ax.scatter(x[chosen], 100 * sub.loc[chosen, "val_score"], s=90, facecolors="none", edgecolors="black", linewidths=1.2)
        shown = f"{name} ÷ the dataset's {name}" if dim.get("relative") else name
        ax.set_xlabel(f"{shown} ({dim['range']})", fontsize=8)
        ax.set_ylabel("validation score (%)")
        ax.grid(alpha=0.3)
    if not names:
        axes[0].text(0.5, 0.5, "no tuned hyperparameters", ha="center", va="center")
    n_missing = int(sub["val_score"].isna().sum())
    note = f"; {n_missing} trial(s) without a score (×)" if n_missing else ""
    fig.suptitle((title or f"{algorithm}: validation score against each hyperparameter") + f" — {len(sub)} trials{note}", fontsize=10)
    if groups:
        axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


# --- the section and the writer -------------------------------------------------------------


def ordering(moves: pd.DataFrame, variant: str) -> str:
    """``a > b = c``: methods by place, equal places (tied average ranks) joined by ``=``."""
    places = moves.groupby(f"{variant}_place")["method"].apply(lambda m: " = ".join(sorted(m)))
    return " > ".join(places.sort_index())


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def section_markdown(
    spec: dict,
    trials: pd.DataFrame,
    table: pd.DataFrame,
    compute: pd.DataFrame,
    selections: dict[tuple[str, str, str], dict],
    figures: dict[str, str],
    table_dir: str = "tables",
) -> str:
    """REPORT.md's tuning section: setup, whether trials touched test, what tuning changed, the
    ranking change per tuned experiment, cost, and the sensitivity figures."""
    s = spec["settings"]
    score = s["score"]
    n_groups = len(selections)
    budgets = trials.groupby(["experiment", "dataset", "partition", "algorithm"])["trial"].nunique()
    test_rows = sum(int(sel.get("test_rows", 0)) for sel in selections.values())
    trial_runs = sum(int(sel.get("runs", 0)) for sel in selections.values())
    lines = [
        "## Tuning",
        "",
        f"Every method of {', '.join(f'`{e}`' for e in spec['experiments'])} was tuned per dataset and partition with the same "
        f"budget: {s['trials']} trial(s) per method (measured: {budgets.min()}–{budgets.max()} per group over {n_groups} group(s)), "
        f"{s['rounds']} rounds per trial, seed(s) {s['seeds']}; values from a scrambled {s['sampler']['method']} sequence "
        f"(scipy.stats.qmc, seeded per group from seed {s['sampler']['seed']} and the group's key)"
        + (", trial 0 being the configured values" if s["sampler"]["include_default"] else "")
        + f". Selection score: the mean over the last {score['last']} evaluations of the clients' mean validation "
        f"{score['metric'].replace('_', ' ')} at the `{score['eval_point']}` point; the highest wins, ties to the lower trial. "
        f"The {trial_runs} trial runs scored validation only: {test_rows} test rows. Every trial: "
        f"[tuning_trials.csv]({table_dir}/tuning_trials.csv); search spaces: docs/protocol.md §9.",
        "",
    ]
    for experiment, exp in spec["experiments"].items():
        sub = table[table["experiment"] == experiment]
        change = ranking_change(sub)
        lines += [f"### {exp['title']} (`{experiment}`): tuned against default", ""]
        lines += tuned_vs_default_markdown(sub).split("\n", 4)[4].rstrip().splitlines()
        lines.append("")
        if not change["methods"]:
            lines += ["No method has a default and a tuned score in every column: no ranking to compare.", ""]
            continue
        moves = change["moves"]
        order = {v: ordering(moves, v) for v in ("default", "tuned")}
        rho = change["spearman"]
        rho_text = (
            f"Spearman's ρ between the two average-rank orderings = {rho:.2f}"
            if not math.isnan(rho)
            else ("rank correlation undefined (fewer than three methods, or an ordering of ties)")
        )
        moved = moves[moves["places_gained"] != 0]
        moved_text = ", ".join(f"{r['method']} {int(r['places_gained']):+d}" for _, r in moved.iterrows()) or "no method moves"
        lines += [
            f"Ranking by average rank over {sub[['dataset', 'partition']].drop_duplicates().shape[0]} column(s): default "
            f"{order['default']}; tuned {order['tuned']}. "
            + ("**The ranking changes after tuning**" if change["changed"] else "The ranking does not change after tuning")
            + f" ({rho_text}; places gained: {moved_text}).",
            "",
            "| method | default avg rank | tuned avg rank | default place | tuned place | places gained |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for _, r in moves.iterrows():
            lines.append(
                f"| {r['method']} | {r['default_avg_rank']:.2f} | {r['tuned_avg_rank']:.2f} | {r['default_place']} | "
                f"{r['tuned_place']} | {int(r['places_gained']):+d} |"
            )
        lines.append("")
    lines += ["### Compute", ""]
    lines += compute_markdown(compute).split("\n", 2)[2].rstrip().splitlines()
    lines += ["", "### Sensitivity", ""]
    lines += [
        "Validation score of every trial against each tuned hyperparameter; colours are datasets, the selected trial is "
        "ringed. A flat panel says the method does not care about that hyperparameter in this range.",
        "",
    ]
    for algorithm, path in figures.items():
        lines += [f"![tuning sensitivity: {algorithm}]({path})", ""]
    return "\n".join(lines) + "\n"


def write_tuning_report(
    spec: dict,
    selection_paths: Iterable[str | Path],
    trial_info_paths: Iterable[str | Path],
    final_metrics_paths: Iterable[str | Path],
    final_info_paths: Iterable[str | Path],
    outputs: dict[str, str],
    figures: dict[str, Sequence[str]],
) -> None:
    """Write every tuning table, figure and the REPORT.md section.

    ``outputs``: ``trials``, ``vs_csv``, ``vs_md``, ``compute_csv``, ``compute_md``, ``section``;
    ``figures``: algorithm → its figure paths (PNG first).
    """
    from fhbench.reporting.figures import save_figure

    records = [json.loads(Path(p).read_text()) for p in selection_paths]
    selections = {(r["dataset"], r["partition"], r["algorithm"]): r for r in records}
    per_experiment = {e: [selections[tuple(g)] for g in exp["groups"]] for e, exp in spec["experiments"].items()}
    trials = tuning.trials_frame(per_experiment)
    table = tuned_vs_default(load_metrics(final_metrics_paths), spec, selections)
    compute = compute_table(
        [json.loads(Path(p).read_text()) for p in trial_info_paths], [json.loads(Path(p).read_text()) for p in final_info_paths], spec
    )
    for algorithm, paths in figures.items():
        save_figure(
            plot_sensitivity(trials, algorithm, spec["spaces"].get(algorithm, {}), spec.get("configured", {}).get(algorithm)), paths
        )
    section_dir = Path(outputs["section"]).parent
    relative = {a: Path(os_relpath(paths[0], section_dir.parent)).as_posix() for a, paths in figures.items()}
    write_texts(
        {
            outputs["trials"]: trials.to_csv(index=False),
            outputs["vs_csv"]: table.to_csv(index=False),
            outputs["vs_md"]: tuned_vs_default_markdown(table),
            outputs["compute_csv"]: compute.to_csv(index=False),
            outputs["compute_md"]: compute_markdown(compute),
            outputs["section"]: section_markdown(spec, trials, table, compute, selections, relative),
        }
    )


def os_relpath(path: str | Path, start: str | Path) -> str:
    """``path`` relative to ``start`` (REPORT.md's folder: the section's links are read from there)."""
    import os

    return os.path.relpath(path, start)
