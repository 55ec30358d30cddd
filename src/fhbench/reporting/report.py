"""``results/{name}/REPORT.md``: provenance (and, for a demo, a warning), what was run, the
headline table, one computed sentence per experiment and figure, and the ways this
reproduction differs from the published code.

Every number in the report is computed here from the tidy metrics; the only typed-in text is
the sentence templates and the list of deviations (``report/deviations.yaml``).
``EXPERIMENT_KINDS`` maps an experiment's ``kind`` (config) to how it is tabulated and what its
finding sentence computes; ``FIGURE_FINDINGS`` does the same for figure kinds that have one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import yaml

from fhbench.io import write_texts
from fhbench.metrics import RUN_KEYS, at_eval_point
from fhbench.reporting.figures import communication_points, heterogeneity_points
from fhbench.reporting.robustness import finding_splits, metric_disagreement, selection_report
from fhbench.reporting.selection import SelectionRule, client_scores
from fhbench.reporting.stats import average_ranks, column_winners, paired_difference, rank_test
from fhbench.reporting.tables import (
    accuracy_table,
    column_average_per_seed,
    load_metrics,
    method_label,
    seed_scores,
    to_markdown,
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pts(x: float, sign: bool = False) -> str:
    return f"{100 * x:+.1f} points" if sign else f"{100 * x:.1f} points"


def select_runs(metrics: pd.DataFrame, runs: Iterable[Sequence]) -> pd.DataFrame:
    """The rows of ``metrics`` that belong to the given run keys (dataset, partition, algorithm, variant, seed)."""
    wanted = pd.DataFrame([tuple(r) for r in runs], columns=RUN_KEYS).astype({"seed": "int64"})
    return metrics.astype({"seed": "int64"}).merge(wanted, on=RUN_KEYS, how="inner")


def _method_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean and std over seeds of its score averaged over the experiment's columns."""
    per_seed = column_average_per_seed(scores)
    out = per_seed.groupby(["algorithm", "variant"])["mean"].agg(mean="mean", std="std").reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["method"] = [method_label(a, v) for a, v in zip(out["algorithm"], out["variant"])]
    return out.sort_values("mean", ascending=False).reset_index(drop=True)


def _interval(diff: dict) -> str:
    """``+1.2 points (95% bootstrap interval −0.3 to +2.6 points; 40 clients in 2 columns …)``."""
    return (
        f"{_pts(diff['mean'], sign=True)} (95% bootstrap interval {_pts(diff['lo'], sign=True).split()[0]} to "
        f"{_pts(diff['hi'], sign=True)}; {diff['n']} clients in {diff.get('n_columns', 1)} column(s), resampled within columns, weighted equally as in the table)"
    )


def _verdict_text(diff: dict) -> str:
    """What the interval allows: a tie only inside the equivalence margin, else inconclusive or a difference."""
    margin = _pts(diff.get("margin", 0.01))
    return {
        "tie": f"a tie: the interval lies within ±{margin}",
        "inconclusive": f"inconclusive: the interval holds 0 but reaches beyond ±{margin}",
        "higher": "the interval excludes 0",
        "lower": "the interval excludes 0",
    }[diff["verdict"]]


def _competitors(scores: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Seed scores without the experiment's reference algorithms (local, centralized)."""
    return scores[~scores["algorithm"].isin(spec.get("references", []))]


def _where(metrics: pd.DataFrame) -> str:
    pairs = sorted(set(zip(metrics["dataset"], metrics["partition"])))
    return ", ".join(f"{d}/{p}" for d, p in pairs)


def finding_main(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float]) -> str:
    """Best method on average over the columns, its paired margin over the second with an
    interval (a tie when the interval contains zero), and how often it is best."""
    point = spec.get("eval_point", "local")
    scores = _competitors(seed_scores(metrics, eval_point=point), spec)
    means = _method_means(scores)
    n_columns = scores.groupby(["dataset", "partition"]).ngroups
    if means.empty:  # e.g. a column where every run diverged: no method has a score on every column
        diverged = int(scores["diverged"].sum())
        return f"No method has a score on all {n_columns} column(s) ({_where(metrics)}; {diverged} diverged run(s)); see the table."
    best = means.iloc[0]
    text = (
        f"Averaged over {n_columns} dataset/partition column(s) ({_where(metrics)}), {best['method']} scores highest ({_pct(best['mean'])})"
    )
    if len(means) > 1:
        second = means.iloc[1]
        diff = paired_difference(
            client_scores(metrics, eval_point=point), (best["algorithm"], best["variant"]), (second["algorithm"], second["variant"])
        )
        if diff["tie"]:
            text += f", tied with {second['method']} ({_pct(second['mean'])}): the paired difference is {_interval(diff)}, {_verdict_text(diff)}"
        else:
            text += (
                f", {_pts(best['mean'] - second['mean'])} above {second['method']} ({_pct(second['mean'])}); "
                f"paired difference {_interval(diff)}, {_verdict_text(diff)}"
            )
        # Counted from the table's bold marks, so the sentence and the table agree (ties included).
        table = accuracy_table(metrics, averages=False, references=spec.get("references", ()), eval_point=point)
        winners = column_winners(table)
        mine = winners[winners["method"] == best["method"]]["column"]
        shared = sum((winners["column"] == c).sum() > 1 for c in mine)
        text += f"; it is best on {len(mine)} of {n_columns}" + (f" ({shared} of them tied)" if shared else "")
        text += ". " + rank_test(table).text()
        disagreement = metric_disagreement(metrics, spec)
        if disagreement:
            text += " " + disagreement
    else:
        text += "."
    reference = spec.get("reference")
    if reference:
        algorithm = reference.get("algorithm", best["algorithm"])
        row = means[(means["algorithm"] == algorithm)]
        if len(row):
            value = row.iloc[0]["mean"]
            text += (
                f" Published reference: {reference.get('text', 'paper')} ({_pct(reference['value'])}); "
                f"{algorithm} here reaches {_pct(value)} ({_pts(value - reference['value'], sign=True)})."
            )
    return text


def finding_variants(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float]) -> str:
    """Per algorithm: best and worst variant, their paired difference with an interval, and a
    tie when that interval contains zero."""
    point = spec.get("eval_point", "local")
    means = _method_means(seed_scores(metrics, eval_point=point))
    per_client = client_scores(metrics, eval_point=point)
    sentences = []
    for algorithm in [a for a in spec.get("algorithms", sorted(means["algorithm"].unique())) if a in set(means["algorithm"])]:
        rows = means[means["algorithm"] == algorithm].sort_values("mean", ascending=False)
        if len(rows) < 2:
            continue
        best, worst = rows.iloc[0], rows.iloc[-1]
        diff = paired_difference(per_client, (algorithm, best["variant"]), (algorithm, worst["variant"]))
        if diff["tie"]:
            names = "both variants" if len(rows) == 2 else f"all {len(rows)} variants"
            sentences.append(
                f"For {algorithm} on {_where(metrics)}, {names} tie at {_pct(rows['mean'].mean())} "
                f"({_pct(worst['mean'])} to {_pct(best['mean'])}; best − worst {_interval(diff)}, {_verdict_text(diff)})."
            )
            continue
        spread = best["mean"] - worst["mean"]
        noise = rows["std"].max()
        if metrics["seed"].nunique() > 1:
            verdict = "larger" if spread > noise else "no larger"
            noise_text = f"the {_pts(spread)} range is {verdict} than the largest seed std ({_pts(noise)})"
        else:
            noise_text = f"a {_pts(spread)} range from one seed, so without a noise estimate"
        sentences.append(
            f"For {algorithm} on {_where(metrics)}, variant {best['variant']} scores highest ({_pct(best['mean'])}) and "
            f"{worst['variant']} lowest ({_pct(worst['mean'])}); {noise_text}; paired {best['variant']} − {worst['variant']}: "
            f"{_interval(diff)}, {_verdict_text(diff)}."
        )
    return " ".join(sentences) if sentences else finding_main(metrics, spec, alphas)


def finding_partitions(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float]) -> str:
    """The accuracy gap between the two compared algorithms at each α, and its trend."""
    points = heterogeneity_points(metrics, alphas)
    algorithms = spec.get("compare") or sorted(points["algorithm"].unique())[:2]
    if len(algorithms) < 2:
        return finding_main(metrics, spec, alphas)
    first, second = algorithms[:2]
    sentences = []
    for dataset, frame in points.groupby("dataset", sort=True):
        frame = frame[frame["variant"] == "default"] if "default" in set(frame["variant"]) else frame
        a = frame[frame["algorithm"] == first].set_index("alpha")["mean"]
        b = frame[frame["algorithm"] == second].set_index("alpha")["mean"]
        gap = (a - b).dropna().sort_index()
        if gap.empty:
            continue
        parts = ", ".join(f"{_pts(g, sign=True)} at α={alpha:g}" for alpha, g in gap.items())
        diffs = np.diff(gap.to_numpy())
        if len(gap) < 2:
            trend = ""
        elif (diffs < 0).all():
            trend = "; the gap shrinks as α grows (data closer to IID)"
        elif (diffs > 0).all():
            trend = "; the gap grows as α grows (data closer to IID)"
        else:
            trend = "; the gap does not change monotonically with α"
        sentences.append(f"On {dataset}, the {first} − {second} accuracy gap is {parts}{trend}.")
    return " ".join(sentences)


def finding_communication(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float]) -> str:
    """Per algorithm: bytes and accuracy of the cheapest and the costliest variant."""
    points = communication_points(metrics)
    sentences = []
    for (dataset, partition, algorithm), frame in points.groupby(["dataset", "partition", "algorithm"], sort=True):
        frame = frame.sort_values("bytes")
        if len(frame) < 2:
            continue
        low, high = frame.iloc[0], frame.iloc[-1]
        ratio = high["bytes"] / low["bytes"] if low["bytes"] > 0 else float("inf")
        sentences.append(
            f"On {dataset}/{partition}, {algorithm} with {low['variant']} sends {low['bytes'] / 1e6:.2f} MB per run for "
            f"{_pct(low['mean'])}, with {high['variant']} {high['bytes'] / 1e6:.2f} MB ({ratio:.1f}×) for {_pct(high['mean'])} "
            f"({_pts(high['mean'] - low['mean'], sign=True)})."
        )
    return " ".join(sentences) if sentences else finding_main(metrics, spec, alphas)


def finding_client_spread(metrics: pd.DataFrame) -> str:
    """Client-to-client standard deviation of test accuracy at the last evaluation round, per method."""
    # The figure's rows are already cut to one evaluation point: score at that one.
    scored = metrics[metrics["split"].isin(["val", "test"])]
    points = set(scored["eval_point"].dropna()) if "eval_point" in scored else set()
    last = client_scores(metrics, eval_point=points.pop() if len(points) == 1 else "local", rule=SelectionRule(rounds="final"))
    per_seed = last.groupby(["algorithm", "variant", "seed"])["value"].agg(std="std", worst="min").reset_index()
    per_method = per_seed.groupby(["algorithm", "variant"])[["std", "worst"]].mean().reset_index()
    per_method["method"] = [method_label(a, v) for a, v in zip(per_method["algorithm"], per_method["variant"])]
    per_method = per_method.sort_values("std")
    parts = ", ".join(
        f"{m} {_pts(s)} (worst client {_pct(w)})" for m, s, w in zip(per_method["method"], per_method["std"], per_method["worst"])
    )
    return f"At the last evaluation round, the std of test accuracy across clients is {parts}; {per_method.iloc[0]['method']} is the most even."


def finding_convergence(metrics: pd.DataFrame) -> str:
    """Per method: mean client test accuracy at the first evaluation, at its peak and at the end."""
    test = metrics[(metrics["split"] == "test") & (metrics["metric"] == "accuracy")]
    curve = test.groupby(["algorithm", "variant", "round"])["value"].mean().reset_index()
    parts = []
    for (algorithm, variant), frame in curve.groupby(["algorithm", "variant"], sort=True):
        frame = frame.sort_values("round").reset_index(drop=True)
        peak = frame.loc[frame["value"].idxmax()]
        first, last = frame.iloc[0], frame.iloc[-1]
        parts.append(
            f"{method_label(algorithm, variant)} {_pct(first['value'])} at round {int(first['round'])}, "
            f"peak {_pct(peak['value'])} at round {int(peak['round'])}, {_pct(last['value'])} at round {int(last['round'])}"
        )
    return "Mean client test accuracy: " + "; ".join(parts) + "."


def finding_planted(metrics: pd.DataFrame, spec: dict, alphas: dict[str, float], mixing: pd.DataFrame | None = None) -> str:
    """Planted structure: every method against FedAvg (paired, with an interval) and whether
    EPFL's weights stay within the planted groups (share against the uniform (n_g − 1)/(N − 1))."""
    from fhbench.mixing import concentration

    baseline = spec.get("compare", ["fedavg"])[-1] if spec.get("compare") else "fedavg"
    # Both points when both were scored: at `local` a global method has just fine-tuned on the
    # client's own (relabelled) data, which hides part of the conflict the groups plant.
    points = [spec.get("eval_point", "local")]
    if "eval_point" in metrics.columns and (metrics["eval_point"] == "received").any():
        points = ["local", "received"]
    sentences = []
    for point in points:
        means = _method_means(seed_scores(metrics, eval_point=point))
        per_client = client_scores(metrics, eval_point=point)
        base = means[means["algorithm"] == baseline]
        parts = []
        for _, row in means.iterrows():
            if row["algorithm"] == baseline or base.empty:
                continue
            diff = paired_difference(per_client, (row["algorithm"], row["variant"]), (baseline, "default"))
            verdict = {"tie": "ties with", "higher": "beats", "lower": "trails", "inconclusive": "is not told apart from"}[diff["verdict"]]
            parts.append(
                f"{row['method']} ({_pct(row['mean'])}) {verdict} {baseline} ({_pct(base.iloc[0]['mean'])}): {_interval(diff)}, {_verdict_text(diff)}"
            )
        sentences.append(f"at the {point} point, " + ("; ".join(parts) if parts else "no method to compare with " + baseline))
    text = f"On {_where(metrics)}: " + "; ".join(sentences) + "."
    if mixing is not None and not mixing.empty:
        runs = metrics[RUN_KEYS].drop_duplicates()
        sub = mixing.merge(runs, on=RUN_KEYS, how="inner")
        stats = [concentration(run) for _, run in sub.groupby(RUN_KEYS) if (run["matrix"] == "mixing").any()]
        stats = [s for s in stats if "within_share" in s]
        if stats:
            within, uniform = np.mean([s["within_share"] for s in stats]), np.mean([s["within_uniform"] for s in stats])
            verdict = "concentrate within the planted groups" if within > uniform else "do not concentrate within the planted groups"
            text += (
                f" EPFL's weights {verdict}: {_pct(within)} of each client's off-diagonal weight goes to its own group, "
                f"against {_pct(uniform)} for uniform weights ((n_g − 1)/(N − 1); last evaluation round, mean over {len(stats)} run(s))."
            )
    return text


@dataclass(frozen=True)
class ExperimentKind:
    """How one kind of experiment is tabulated and summarised."""

    averages: bool  # per-modality average columns in its table
    finding: Callable[..., str]
    uses_mixing: bool = False  # the finding also reads the runs' server matrices (fhbench.mixing)


EXPERIMENT_KINDS: dict[str, ExperimentKind] = {
    "main": ExperimentKind(averages=True, finding=finding_main),
    "variants": ExperimentKind(averages=False, finding=finding_variants),
    "partitions": ExperimentKind(averages=False, finding=finding_partitions),
    "communication": ExperimentKind(averages=False, finding=finding_communication),
    "planted": ExperimentKind(averages=False, finding=finding_planted, uses_mixing=True),
    "splits": ExperimentKind(averages=False, finding=finding_splits),  # fhbench.reporting.robustness
}

FIGURE_FINDINGS: dict[str, Callable[[pd.DataFrame], str]] = {
    "convergence": finding_convergence,
    "client_spread": finding_client_spread,
}


def eval_point_section(metrics: pd.DataFrame, spec: dict) -> list[str]:
    """How the headline ranking changes between the evaluation points (``local`` vs ``received``)."""
    if "eval_point" not in metrics.columns or not (metrics["eval_point"] == "received").any():
        return []
    tables = {}
    for point in ("local", "received"):
        table = accuracy_table(
            metrics,
            averages=EXPERIMENT_KINDS[spec["kind"]].averages,
            datasets=spec["datasets"],
            partitions=spec["partitions"],
            algorithms=spec["algorithms"],
            variants=spec["variants"],
            references=spec.get("references", ()),
            eval_point=point,
        )
        means = _method_means(_competitors(seed_scores(metrics, eval_point=point), spec)).set_index("method")["mean"]
        tables[point] = (average_ranks(table).set_index("method"), means)
    methods = list(tables["local"][0].index)
    lines = [
        "## Evaluation points",
        "",
        "`local`: each client's model after local training, before aggregation (the published protocol, used by every "
        "table unless an experiment sets `eval_point`); `received`: the model it holds after the server's message (the "
        "global model of a global method, the personalised one otherwise). Score averaged over the columns; rank averaged "
        "over the dataset columns.",
        "",
        "| method | local score | local avg rank | received score | received avg rank |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in methods:
        cells = []
        for point in ("local", "received"):
            ranks, means = tables[point]
            cells += [_pct(means[m]) if m in means else "–", f"{ranks.loc[m, 'avg_rank']:.2f}" if m in ranks.index else "–"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")

    def ranking(ranks: pd.DataFrame) -> str:  # equal average ranks are a tie, written "="
        groups = ranks.groupby(ranks["avg_rank"].round(6), sort=True).groups
        return " > ".join(" = ".join(groups[r]) for r in sorted(groups))

    order = {p: ranking(tables[p][0]) for p in tables}
    same = order["local"] == order["received"]
    lines += [
        "",
        f"Ranking by average rank: local {order['local']}; received {order['received']}"
        + ("; the order is the same." if same else "; the order changes."),
        "",
    ]
    return lines


def mixing_section(metrics: pd.DataFrame, mixing: pd.DataFrame | None, spec: dict, k: int = 3) -> list[str]:
    """How concentrated EPFL's weights are in the headline experiment's runs, per dataset."""
    from fhbench.mixing import concentration

    if mixing is None or mixing.empty:
        return []
    runs = metrics[RUN_KEYS].drop_duplicates()
    sub = mixing.merge(runs, on=RUN_KEYS, how="inner")
    rows = []
    for key, run in sub.groupby(RUN_KEYS, sort=True):
        if (run["matrix"] == "mixing").any() and (run["matrix"] == "label_distance").any():
            rows.append(dict(zip(RUN_KEYS, key), **concentration(run, k=k)))
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    per = (
        frame.groupby(["dataset", "partition", "variant"], sort=True)[["nearest_share", "top_share", "nearest_uniform"]]
        .mean()
        .reset_index()
    )
    lines = [
        "## EPFL's weights",
        "",
        f"At the last evaluation round: the share of each client's off-diagonal weight on its {k} nearest clients by "
        f"training label distribution (total variation), against the same share under uniform weights, and the share on "
        f"its {k} most weighted clients; mean over clients and seeds. The matrices of every evaluation round are in each "
        "run's `mixing.csv`.",
        "",
        f"| dataset | variant | on {k} nearest by labels | uniform | on top {k} |",
        "|---|---|---:|---:|---:|",
    ]
    for _, r in per.iterrows():
        lines.append(
            f"| {r['dataset']}/{r['partition']} | {r['variant']} | {_pct(r['nearest_share'])} | {_pct(r['nearest_uniform'])} | {_pct(r['top_share'])} |"
        )
    ratio = frame["nearest_share"].mean() / frame["nearest_uniform"].mean()
    lines += [
        "",
        f"Over all {len(frame)} EPFL run(s), the {k} nearest clients receive {_pct(frame['nearest_share'].mean())} of the "
        f"off-diagonal weight against {_pct(frame['nearest_uniform'].mean())} under uniform weights ({ratio:.2f}×).",
        "",
    ]
    return lines


def run_counts(metrics: pd.DataFrame) -> dict[str, int]:
    """How much was run, counted from the metrics themselves."""
    runs = metrics[RUN_KEYS].drop_duplicates()
    clients = metrics.groupby(["dataset", "partition"])["client"].nunique()
    return {
        "runs": len(runs),
        "datasets": metrics["dataset"].nunique(),
        "partitions": metrics["partition"].nunique(),
        "algorithms": metrics["algorithm"].nunique(),
        "variants": metrics["variant"].nunique(),
        "seeds": metrics["seed"].nunique(),
        "max_rounds": int(metrics["round"].max()),
        "max_clients": int(clients.max()),
        "rows": len(metrics),
    }


def build_report(
    metrics: pd.DataFrame,
    experiments: dict[str, dict],
    figures: dict[str, dict],
    alphas: dict[str, float],
    deviations: list[dict],
    headline: str = "main",
    table_dir: str = "tables",
    figure_dir: str = "figures",
    extra_figures: Sequence[str] = (),
    provenance: dict | None = None,
    config_name: str | None = None,
    demo: bool = False,
    mixing: pd.DataFrame | None = None,
    claims: pd.DataFrame | None = None,
    sections: Sequence[str] = (),
    priors: pd.DataFrame | None = None,
) -> str:
    """The Markdown text of REPORT.md.

    Parameters
    ----------
    experiments
        Name → spec (``fhbench.grid.experiment_spec`` plus ``runs``: the experiment's run keys).
    figures
        Name → ``{"kind", "experiment", "title"}`` from the config.
    extra_figures
        PNG paths relative to the report of figures made elsewhere (e.g. split distributions).
    provenance
        :func:`fhbench.provenance.summarise` of the runs' run.json: the block the report opens with.
    demo
        The numbers come from generated twins and tiny random models: said first, unmissably.
    mixing
        The runs' server matrices (``mixing.csv``, :mod:`fhbench.mixing`), for EPFL's weights.
    claims
        The claims table (:mod:`fhbench.reporting.claims`): the report opens with its verdicts.
    sections
        Markdown sections written by other rules (tuning), placed after the figures.
    priors
        The label priors (:mod:`fhbench.reporting.priors`): reference rows of the headline table.
    """
    counts = run_counts(metrics)
    lines = [f"# FHBench reproduction report{f' ({config_name})' if config_name else ''}", ""]
    if demo:
        lines += [DEMO_WARNING, ""]
    if claims is not None:
        from fhbench.reporting.claims import claims_section

        lines += claims_section(claims, demo, table_dir, figure_dir)
    if provenance is not None:
        lines += provenance_block(provenance)
    lines += [
        "## What was run",
        "",
        f"{counts['runs']} federated runs: {counts['datasets']} dataset(s), {counts['partitions']} partition(s), "
        f"{counts['algorithms']} algorithm(s), {counts['variants']} variant(s), {counts['seeds']} seed(s); up to "
        f"{counts['max_rounds']} rounds and {counts['max_clients']} clients; {counts['rows']} metric rows.",
        "",
        "| experiment | kind | runs | datasets | partitions | algorithms | variants | seeds |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    per_experiment = {}
    for name, spec in experiments.items():
        sub = select_runs(metrics, spec["runs"])
        per_experiment[name] = sub
        n_runs = len(sub[RUN_KEYS].drop_duplicates())
        lines.append(
            f"| {name} | {spec['kind']} | {n_runs} | {', '.join(sorted(sub['dataset'].unique()))} | "
            f"{', '.join(sorted(sub['partition'].unique()))} | {', '.join(sorted(sub['algorithm'].unique()))} | "
            f"{', '.join(sorted(sub['variant'].unique()))} | {sub['seed'].nunique()} |"
        )
    lines.append("")
    if headline in experiments:
        spec = experiments[headline]
        from fhbench.reporting.priors import with_priors

        headline_metrics, references = with_priors(per_experiment[headline], priors, spec)
        table = accuracy_table(
            headline_metrics,
            averages=EXPERIMENT_KINDS[spec["kind"]].averages,
            datasets=spec["datasets"],
            partitions=spec["partitions"],
            algorithms=spec["algorithms"],
            variants=spec["variants"],
            references=references,
            eval_point=spec.get("eval_point", "local"),
        )
        body = to_markdown(table, spec["title"]).split("\n", 2)[2]  # drop the table's own title line
        lines += [
            "## Headline table",
            "",
            body.strip(),
            "",
            f"Also as [CSV]({table_dir}/{headline}_accuracy.csv) and [LaTeX]({table_dir}/{headline}_accuracy.tex).",
            "",
        ]
        from fhbench.reporting.learning import learning_section

        lines += learning_section(per_experiment, experiments, priors, headline)
        from fhbench.reporting.ties import ties_section

        lines += ties_section(per_experiment[headline], spec)
        lines += eval_point_section(per_experiment[headline], spec)
        lines += mixing_section(per_experiment[headline], mixing, spec)
    lines += selection_report(metrics, experiments, select_runs, headline)
    lines += ["## Findings", ""]
    for name, spec in experiments.items():
        sub = per_experiment[name]
        if sub.empty:
            lines.append(f"- **{spec['title']}** (`{name}`): no runs finished.")
            continue
        kind = EXPERIMENT_KINDS[spec["kind"]]
        sentence = kind.finding(sub, spec, alphas, mixing=mixing) if kind.uses_mixing else kind.finding(sub, spec, alphas)
        lines.append(f"- **{spec['title']}** (`{name}`, [table]({table_dir}/{name}_accuracy.md)): {sentence}")
    lines.append("")
    lines += ["## Figures", ""]
    for name, fig in figures.items():
        lines.append(f"### {fig.get('title', name)}")
        lines.append("")
        finding = FIGURE_FINDINGS.get(fig["kind"])
        sub = per_experiment.get(fig["experiment"])
        if finding is not None and sub is not None and not sub.empty:
            point = fig.get("eval_point", experiments.get(fig["experiment"], {}).get("eval_point", "local"))
            lines += [finding(at_eval_point(sub, point)), ""]
        lines += [f"![{name}]({figure_dir}/{name}.png)", "", f"[PDF]({figure_dir}/{name}.pdf)", ""]
    for path in extra_figures:
        lines += [f"![{Path(path).stem}]({path})", ""]
    for section in sections:
        lines += [section.rstrip(), ""]
    lines += [
        "## Where this reproduction differs from the published code",
        "",
        "| published code | this reproduction | why |",
        "|---|---|---|",
    ]
    for item in deviations:
        lines.append(f"| {item['published']} | {item['here']} | {item['why']} |")
    return "\n".join(lines) + "\n"


def load_deviations(path: str | Path) -> list[dict]:
    items = yaml.safe_load(Path(path).read_text())
    for i, item in enumerate(items):
        missing = {"published", "here", "why"} - set(item)
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {sorted(missing)}")
    return items


DEMO_WARNING = (
    "> **DEMO — NOT THE PAPER'S RESULTS.** Every number below comes from generated twins of the datasets "
    "and tiny models of the real architectures, pretrained for seconds on a separate draw of each twin, trained for a few rounds on a CPU. They test that the pipeline "
    "works end to end and are **not comparable** to the paper's figures (nor to any real run); "
    "the paper's numbers quoted below are for orientation only."
)


def provenance_block(summary: dict) -> list[str]:
    """REPORT.md's opening section: which code, software and machines made these numbers, when,
    and at what cost (:func:`fhbench.provenance.summarise`)."""

    def listed(values: list) -> str:
        return "; ".join(f"`{v}`" for v in values) if values else "unknown"

    lines = [
        "## Provenance",
        "",
        f"- runs: {summary['runs']} ({summary['with_provenance']} with provenance records in their `run.json`)",
        f"- code (git commit): {listed(summary['commits'])}",
        f"- software: {listed(summary['versions'])}",
        f"- devices: {listed(summary['devices'])}",
        f"- hosts: {listed(summary['hosts'])}",
        f"- time: {summary['first_start'] or '?'} to {summary['last_end'] or '?'} (UTC)",
        (
            f"- cost: {summary['wall_hours']} run-hours wall, {summary['cpu_hours']} CPU-hours, "
            f"peak memory {summary['peak_rss_mb']} MB per run"
            + (f", peak GPU memory {summary['gpu_peak_mb']} MB" if summary.get("gpu_peak_mb") else "")
        ),
        "",
        "Each run's `run.json` holds the content hashes of the prepared data, split and model weights it loaded.",
        "",
    ]
    if len(summary["commits"]) > 1 or any("dirty" in c for c in summary["commits"]):
        lines[4] += " — **the runs come from more than one code state, or from uncommitted changes**"
    return lines


def write_report(
    out: str | Path,
    metrics_paths: Iterable[str | Path],
    deviations_path: str | Path,
    run_infos: Iterable[str | Path] = (),
    mixing_paths: Iterable[str | Path] = (),
    claims_path: str | Path | None = None,
    sections: Iterable[str | Path] = (),
    priors_path: str | Path | None = None,
    **kwargs,
) -> str:
    """Read the metrics (and the runs' run.json for the provenance block, their ``mixing.csv``
    for EPFL's weights, the claims table for the opening verdicts), build REPORT.md and write it
    atomically; returns the text."""
    from fhbench.provenance import summarise

    infos = [json.loads(Path(p).read_text()) for p in run_infos]
    if infos:
        kwargs.setdefault("provenance", summarise(infos))
    mixing_paths = list(mixing_paths)
    mixing = load_metrics(mixing_paths) if mixing_paths else None
    if claims_path is not None:
        kwargs.setdefault("claims", pd.read_csv(claims_path))
    kwargs["sections"] = [Path(p).read_text() for p in sections]  # e.g. the tuning section (fhbench.reporting.tuning)
    if priors_path:
        kwargs.setdefault("priors", pd.read_csv(priors_path))
    text = build_report(load_metrics(metrics_paths), deviations=load_deviations(deviations_path), mixing=mixing, **kwargs)
    write_texts({out: text})
    return text
