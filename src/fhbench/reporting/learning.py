"""Does the benchmark measure learning? Checks of a finished grid against its label priors.

A table can only show that a method works where models learn beyond what the label priors
give (:mod:`fhbench.reporting.priors`) and where methods train differently. Three checks, each
computed from the runs' tidy metrics:

- :func:`centralized_margin`: per dataset, the centralized reference's protocol score against
  the global prior (the pooled-data upper reference must clear it);
- :func:`training_difference`: per dataset, how much one method's per-client training loss
  differs from another's after round 1 (EPFL against ``local``: equal losses mean EPFL's
  aggregation changed nothing);
- :func:`identical_pairs`: pairs of methods whose per-client test scores are equal in every
  evaluated round (a mechanism that never acts).

``benchmarks/demo_learns.py`` runs them on a finished demo and prints PASS/FAIL per condition.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from fhbench.metrics import at_eval_point
from fhbench.reporting.priors import GLOBAL_PRIOR, LOCAL_PRIOR
from fhbench.reporting.tables import seed_scores


def centralized_margin(metrics: pd.DataFrame, priors: pd.DataFrame, reference: str = "centralized") -> pd.DataFrame:
    """Per (dataset, partition): mean protocol score (over seeds) of ``reference``, both priors and
    the margin ``reference − global prior`` (fractions, not percent). Only the (dataset, partition)
    pairs ``metrics`` has runs of: the priors of other splits are left out."""
    priors = priors.merge(metrics[["dataset", "partition"]].drop_duplicates(), on=["dataset", "partition"], how="inner")
    scores = seed_scores(pd.concat([metrics, priors], ignore_index=True))
    cell = scores.groupby(["dataset", "partition", "algorithm"])["score"].mean().unstack("algorithm")
    out = pd.DataFrame(index=cell.index)
    for name in (reference, GLOBAL_PRIOR, LOCAL_PRIOR):
        out[name] = cell[name] if name in cell else np.nan
    out["margin"] = out[reference] - out[GLOBAL_PRIOR]
    return out.reset_index()


def _series(metrics: pd.DataFrame, algorithm: str, variant: str, split: str, metric: str) -> pd.Series:
    rows = metrics[
        (metrics["algorithm"] == algorithm) & (metrics["variant"] == variant) & (metrics["split"] == split) & (metrics["metric"] == metric)
    ]
    return rows.set_index(["dataset", "partition", "seed", "round", "client"])["value"].sort_index()


def training_difference(metrics: pd.DataFrame, first: str, second: str, variant: str = "default") -> pd.DataFrame:
    """Per (dataset, partition, seed): the largest relative difference of per-client training loss
    between two algorithms after round 1 (round 1 starts both from the same tensors), and the
    share of (client, round) pairs whose losses differ by more than 1e-6 relative."""
    a = _series(metrics, first, variant, "train", "loss")
    b = _series(metrics, second, variant, "train", "loss")
    joined = pd.concat({"a": a, "b": b}, axis=1, join="inner").reset_index()
    joined = joined[(joined["round"] > 1) & joined["a"].notna() & joined["b"].notna()]
    joined["rel"] = (joined["a"] - joined["b"]).abs() / joined[["a", "b"]].abs().max(axis=1).clip(lower=1e-12)
    out = joined.groupby(["dataset", "partition", "seed"])["rel"].agg(max_rel="max", share_differing=lambda r: float((r > 1e-6).mean()))
    return out.reset_index()


def identical_pairs(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """Pairs of methods (algorithm, variant) with equal per-client test ``metric`` in every
    evaluated round of every seed they share, per (dataset, partition)."""
    scored = at_eval_point(metrics, eval_point)
    test = scored[(scored["split"] == "test") & (scored["metric"] == metric)]
    rows = []
    for (dataset, partition), frame in test.groupby(["dataset", "partition"], sort=True):
        series = {
            method: part.set_index(["seed", "round", "client"])["value"].sort_index()
            for method, part in frame.groupby(["algorithm", "variant"])
        }
        for one, two in combinations(sorted(series), 2):
            joined = pd.concat({"a": series[one], "b": series[two]}, axis=1, join="inner")
            if len(joined) and np.array_equal(joined["a"].to_numpy(), joined["b"].to_numpy(), equal_nan=True):
                rows.append({"dataset": dataset, "partition": partition, "first": one, "second": two, "points": len(joined)})
    return pd.DataFrame(rows, columns=["dataset", "partition", "first", "second", "points"])


#: Pairs of algorithms whose training can coincide by definition, and when. REPORT.md quotes the
#: reason beside a pair found equal; any other equal pair is reported as a mechanism that did not act.
EQUAL_BY_DEFINITION: dict[frozenset, str] = {
    frozenset({"fedprox", "fedavg"}): (
        "FedProx's proximal term has zero gradient at a client's first step of a round, so with one SGD step per "
        "round (or μ = 0) FedProx is FedAvg"
    ),
    frozenset({"apfl", "local"}): (
        "APFL scores v̄ = α v + (1 − α) w; while α stays at 1 (its init) v̄ = v, which trains exactly as local's model"
    ),
    frozenset({"scaffold", "fedavg"}): "SCAFFOLD's control variates start at 0, so its first round is FedAvg's (server step 1)",
    frozenset({"ffa_lora", "fedavg"}): "FFA-LoRA freezes A; where FedAvg's A does not move either, both train alike",
    frozenset({"epfl", "local"}): "EPFL mixes only A; while every client's A is the same (all start equal), mixing changes nothing",
    frozenset({"fedsa_lora", "local"}): "FedSA-LoRA averages only A; while every client's A is the same, averaging changes nothing",
    frozenset({"fedsa_lora", "epfl"}): "FedSA-LoRA is EPFL with uniform weights and self weight 1/N",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if np.isfinite(x) else "not run"


def _points(x: float) -> str:
    return f"{100 * x:+.1f} points" if np.isfinite(x) else "–"


def learning_section(
    per_experiment: dict[str, pd.DataFrame], experiments: dict[str, dict], priors: pd.DataFrame | None, headline: str
) -> list[str]:
    """REPORT.md's "Does it learn?" section: the headline's centralized reference against the label
    priors per dataset, EPFL's training against local's, and the methods of every main-kind
    experiment that scored equal per client in every round (with the reason when their
    definitions make them equal). Empty when there are no priors."""
    if priors is None or priors.empty or headline not in per_experiment or per_experiment[headline].empty:
        return []
    metrics = per_experiment[headline]
    lines = ["## Does it learn?", ""]
    if "centralized" in set(metrics["algorithm"]):
        margins = centralized_margin(metrics, priors)
        lines += [
            "Test accuracy at each client's best validation round, mean over clients and seeds: the centralized reference "
            "against the label priors computed from the splits (no training). A margin near 0 means the models learned "
            "nothing the labels' frequencies do not give.",
            "",
            "| dataset | centralized | global prior | local prior | centralized − global prior |",
            "|---|---:|---:|---:|---:|",
        ]
        for _, row in margins.iterrows():
            lines.append(
                f"| {row['dataset']}/{row['partition']} | {_pct(row['centralized'])} | {_pct(row['global prior'])} | "
                f"{_pct(row['local prior'])} | {_points(row['margin'])} |"
            )
        lines.append("")
    if {"epfl", "local"} <= set(metrics["algorithm"]):
        diff = training_difference(metrics, "epfl", "local").groupby("dataset")["max_rel"].min()
        same = [d for d, v in diff.items() if v < 1e-6]
        lines += [
            "EPFL's per-client training loss against local's after round 1 (largest relative difference, worst seed): "
            + ", ".join(f"{d} {v:.1e}" for d, v in diff.items())
            + (f". **Equal on {', '.join(same)}**: EPFL's mixing of A changed nothing there." if same else "."),
            "",
        ]
    for name, spec in experiments.items():
        if spec.get("kind", "main") != "main" or per_experiment.get(name) is None or per_experiment[name].empty:
            continue
        pairs = identical_pairs(per_experiment[name])
        if pairs.empty:
            lines += [f"`{name}`: no two methods scored the same per client in every evaluated round.", ""]
            continue
        lines.append(f"`{name}`: methods with equal per-client test accuracy in every evaluated round:")
        for _, row in pairs.iterrows():
            why = (
                EQUAL_BY_DEFINITION.get(frozenset({row["first"][0], row["second"][0]}))
                if row["first"][1] == row["second"][1] == "default"
                else None
            )
            reason = f"equal by definition here: {why}" if why else "**not explained by their definitions: a mechanism did not act**"
            lines.append(f"- {row['dataset']}/{row['partition']}: {row['first'][0]} = {row['second'][0]} ({reason})")
        lines.append("")
    return lines
