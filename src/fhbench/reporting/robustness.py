"""How far a conclusion moves when the scoring rule, the metric or the split changes.

Three checks a referee asks for, each computed from the tidy metrics:

- :func:`selection_section`: an experiment's method ordering under every rule of
  :data:`fhbench.reporting.selection.COMPARED` (best validation round with its tie-break, the
  published earliest-round rule, the final round, the mean of the last k evaluations, the
  sample-weighted mean), side by side, with Kendall's τ between each rule's average ranks and the
  default's, and the columns whose winner changes;
- :func:`metric_disagreement`: where accuracy and balanced accuracy or macro-F1 name different
  winners;
- :func:`finding_splits`: how the ranking moves between two splits of the same data (the
  published ``fhbench`` split against ``fhbench_balanced``).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from fhbench.reporting.selection import COMPARED, DEFAULT, SelectionRule
from fhbench.reporting.stats import average_ranks, column_winners
from fhbench.reporting.tables import column_average_per_seed, method_label, seed_scores, spec_table


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def kendall_tau(a: pd.Series, b: pd.Series) -> float:
    """Kendall's τ-b (``scipy.stats.kendalltau``) between two score series over their common index; NaN if undefined."""
    from scipy.stats import kendalltau

    common = a.index.intersection(b.index)
    x, y = a.loc[common].to_numpy(dtype=float), b.loc[common].to_numpy(dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    with warnings.catch_warnings():  # a constant series: scipy warns and returns NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(kendalltau(x[keep], y[keep]).statistic)


def _table(
    metrics: pd.DataFrame, spec: dict, rule: SelectionRule = DEFAULT, metric: str = "accuracy", scores: pd.DataFrame | None = None
) -> pd.DataFrame:
    return spec_table(metrics, spec, metric, averages=False, rule=rule, scores=scores)


def rule_results(
    metrics: pd.DataFrame, spec: dict, rule: SelectionRule = DEFAULT, metric: str = "accuracy"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`method_scores`, the experiment's table) under ``rule``, the runs scored once for both."""
    scores = seed_scores(metrics, metric, spec.get("eval_point", "local"), rule)
    table = _table(metrics, spec, rule, metric, scores=scores)
    return method_scores(metrics, spec, rule, metric, scores=scores, table=table), table


def method_scores(
    metrics: pd.DataFrame,
    spec: dict,
    rule: SelectionRule = DEFAULT,
    metric: str = "accuracy",
    scores: pd.DataFrame | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per method (references included): its score averaged over the columns (per seed, then over
    seeds, seeds with every column only) and its average rank among the competitors. ``scores``
    (:func:`seed_scores`) and ``table`` (:func:`_table`) of the same rule and metric, when computed already."""
    if scores is None:
        scores = seed_scores(metrics, metric, spec.get("eval_point", "local"), rule)
    if table is None:
        table = _table(metrics, spec, rule, metric, scores=scores)
    per_seed = column_average_per_seed(scores[~scores["diverged"]])
    # Every method keeps its row: NaN where no seed has a score on every column (or the rule
    # cannot score it, e.g. sample-weighted without recorded test sizes).
    methods = scores[["algorithm", "variant"]].drop_duplicates()
    out = methods.merge(per_seed.groupby(["algorithm", "variant"])["mean"].mean().rename("score").reset_index(), how="left")
    out["method"] = [method_label(a, v) for a, v in zip(out["algorithm"], out["variant"])]
    ranks = average_ranks(table).set_index("method")["avg_rank"]
    out["avg_rank"] = out["method"].map(ranks)
    out["reference"] = out["algorithm"].isin(spec.get("references", []))
    return out.set_index("method")


def _winners(table: pd.DataFrame) -> dict[str, set[str]]:
    winners: dict[str, set[str]] = {}
    for row in column_winners(table).itertuples():
        winners.setdefault(row.column, set()).add(row.method)
    return winners


def _changed_winners(base: pd.DataFrame, other: pd.DataFrame) -> list[str]:
    """``column (a → b)`` for each dataset column whose bold method(s) differ between two tables."""
    a, b = _winners(base), _winners(other)
    return [f"{c} ({' = '.join(sorted(a.get(c, {'–'})))} → {' = '.join(sorted(b.get(c, {'–'})))})" for c in a if a.get(c) != b.get(c)]


def ordering(avg_ranks: pd.Series) -> str:
    """Methods by average rank, best first; equal average ranks are a tie, written ``=``."""
    groups = avg_ranks.groupby(avg_ranks.round(6), sort=True)
    return " > ".join(" = ".join(frame.index) for _, frame in groups)


def _top(scores: pd.DataFrame) -> str:
    competitors = scores[~scores["reference"] & scores["score"].notna()]
    if competitors.empty:
        return "–"
    best = competitors["score"].round(4).max()
    return " = ".join(competitors.index[competitors["score"].round(4) == best])


def selection_table(
    metrics: pd.DataFrame, spec: dict, rules: dict[str, SelectionRule] | None = None, scores: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Per method × rule: score (mean over columns) and average rank; methods in the default's order.
    ``scores``: each rule's :func:`method_scores`, when computed already."""
    rules = rules or COMPARED
    frames = []
    for name, rule in rules.items():
        scored = scores[name] if scores is not None else method_scores(metrics, spec, rule)
        frame = scored[["score", "avg_rank", "reference"]].copy()
        frame["rule"] = name
        frames.append(frame.reset_index())
    out = pd.concat(frames, ignore_index=True)
    first = out[out["rule"] == next(iter(rules))].sort_values(["reference", "avg_rank", "score"], ascending=[True, True, False])
    method_order = {m: i for i, m in enumerate(first["method"])}
    rule_order = {n: i for i, n in enumerate(rules)}
    out["_m"], out["_r"] = out["method"].map(method_order), out["rule"].map(rule_order)
    return out.sort_values(["_m", "_r"]).drop(columns=["_m", "_r"]).reset_index(drop=True)


def selection_section(metrics: pd.DataFrame, spec: dict, name: str, rules: dict[str, SelectionRule] | None = None) -> list[str]:
    """REPORT.md lines: the experiment's ordering under each rule, Kendall's τ against the default,
    changed column winners, and whether the headline winner flips."""
    rules = rules or COMPARED
    names = list(rules)
    results = {n: rule_results(metrics, spec, r) for n, r in rules.items()}  # each rule scored once
    scores = {n: scored for n, (scored, _) in results.items()}
    tables = {n: table for n, (_, table) in results.items()}
    table = selection_table(metrics, spec, rules, scores=scores)
    lines = [
        f"### `{name}`: {spec.get('title', name)}",
        "",
        "Each cell: test accuracy averaged over the experiment's dataset columns, then (in brackets) the average rank "
        "over those columns among the compared methods (reference rows unranked).",
        "",
        "| method | " + " | ".join(rules[n].label for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for method, rows in table.groupby("method", sort=False):
        rows = rows.set_index("rule")
        cells = []
        for n in names:
            score, rank = rows.loc[n, "score"], rows.loc[n, "avg_rank"]
            cells.append(_pct(score) + (f" ({rank:.2f})" if np.isfinite(rank) else ""))
        label = method + (" (reference)" if rows["reference"].iloc[0] else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    base = names[0]
    base_ranks = scores[base].loc[~scores[base]["reference"], "avg_rank"]
    notes = []
    winner = _top(scores[base])
    for n in names[1:]:
        if scores[n]["score"].isna().all():
            notes.append(f"{rules[n].label}: not computable (the metrics record no test-part sizes; rerun the runs)")
            continue
        ranks = scores[n].loc[~scores[n]["reference"], "avg_rank"]
        tau = kendall_tau(-base_ranks, -ranks)
        changed = _changed_winners(tables[base], tables[n])
        top = _top(scores[n])
        text = f"{rules[n].label}: Kendall τ = {tau:.2f}" if np.isfinite(tau) else f"{rules[n].label}: Kendall τ undefined"
        text += f"; best on average {top}" + (" (same)" if top == winner else f" (**the headline winner flips** from {winner})")
        text += f"; column winners change on {len(changed)} of {len(_winners(tables[base]))}" + (
            f": {', '.join(changed)}" if changed else ""
        )
        notes.append(text)
    lines += ["", f"Against the default ({rules[base].label}; best on average: {winner}):", ""]
    lines += [f"- {note}." for note in notes] + [""]
    return lines


def selection_report(metrics: pd.DataFrame, experiments: dict[str, dict], select_runs, headline: str) -> list[str]:
    """The ``## Selection`` section of REPORT.md: the headline experiment and every other ``main``
    experiment with several dataset columns (where an ordering over columns means something)."""
    chosen = [headline] if headline in experiments else []
    chosen += [
        n
        for n, s in experiments.items()
        if n != headline and s.get("kind") == "main" and len(s.get("datasets", [])) * len(s.get("partitions", [])) > 1
    ]
    lines = [
        "## Selection",
        "",
        f"Every table scores a client {DEFAULT.describe()}. Validation parts hold a handful of samples, so a client "
        "often reaches its best validation accuracy at several rounds; the published code keeps the earliest, which "
        "scores barely trained models. The lower validation loss breaks those ties (validation data only), and the "
        "later round breaks the rest. The tables below show how each experiment's ordering moves under the other "
        "rules: the published earliest-round tie-break, the final round, the mean of the last evaluations, and the "
        "mean weighted by test-part size instead of the per-client mean.",
        "",
    ]
    for name in chosen:
        sub = select_runs(metrics, experiments[name]["runs"])
        if not sub.empty:
            lines += selection_section(sub, experiments[name], name)
    return lines


def metric_disagreement(metrics: pd.DataFrame, spec: dict, metrics_compared: Sequence[str] | None = None) -> str:
    """A sentence naming where balanced accuracy or macro-F1 pick a different winner than accuracy
    (overall and per dataset column); empty when they agree or only accuracy is tabulated."""
    others = [m for m in (metrics_compared or spec.get("metrics", ["accuracy"])) if m != "accuracy"]
    if not others:
        return ""
    base_scores, base_table = rule_results(metrics, spec)
    base_top = _top(base_scores)
    sentences = []
    for metric in others:
        scores, table = rule_results(metrics, spec, metric=metric)
        top = _top(scores)
        changed = _changed_winners(base_table, table)
        name = metric.replace("_", " ")
        if top == base_top and not changed:
            sentences.append(f"Under {name} the winners are the same.")
            continue
        head = f"Under {name}, {top} is best on average" + (f" instead of {base_top}" if top != base_top else " as under accuracy")
        cols = f"; column winners differ (accuracy → {name}) on {len(changed)} column(s): {', '.join(changed)}" if changed else ""
        sentences.append(head + cols + ".")
    return " ".join(sentences)


def finding_splits(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float]) -> str:
    """How the ranking moves between the experiment's partitions (the published split against
    the balanced one): each split's order by average rank, Kendall's τ, changed column winners
    and each method's mean score change."""
    partitions = [p for p in spec.get("partitions", []) if p in set(metrics["partition"])]
    if len(partitions) < 2:
        return f"Only {len(partitions)} of the experiment's partitions has runs; nothing to compare."
    first, second = partitions[:2]
    per = {}
    for p in (first, second):
        sub = metrics[metrics["partition"] == p]
        sub_spec = dict(spec, partitions=[p])
        per[p] = rule_results(sub, sub_spec)
    order = {p: ordering(s.loc[~s["reference"], "avg_rank"]) for p, (s, _) in per.items()}
    a, b = per[first][0], per[second][0]
    tau = kendall_tau(-a.loc[~a["reference"], "avg_rank"], -b.loc[~b["reference"], "avg_rank"])
    datasets = sorted(set(metrics["dataset"]))
    # Columns are named by dataset in each single-partition table, so winners compare directly.
    changed = _changed_winners(per[first][1], per[second][1])
    moves = ", ".join(f"{m} {100 * (b.loc[m, 'score'] - a.loc[m, 'score']):+.1f}" for m in a.index if m in b.index)
    tau_text = f"Kendall τ between the two orders {tau:.2f}" if np.isfinite(tau) else "Kendall τ undefined"
    return (
        f"On {', '.join(datasets)}: ranking by average rank on {first}: {order[first]}; on {second}: {order[second]} "
        f"({tau_text}); column winners change on {len(changed)} of {len(_winners(per[first][1]))} dataset(s)"
        + (f": {', '.join(changed)}" if changed else "")
        + f". Mean score change {first} → {second} (points): {moves}."
    )
