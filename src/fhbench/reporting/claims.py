"""Did it reproduce? The paper's six claims, each with a verdict from the runs and its evidence.

:data:`CLAIMS` holds the claims of the FHBench paper as data: the statement, where in the paper
it comes from, the statistic that tests it, the range that statistic must lie in for the claim
to hold, and the experiment (config key) whose runs answer it. :func:`judge_claims` turns the
runs' tidy metrics (and, for the cost claim, their ``run.json`` records) into the claims table:
one row per claim, then one per part of it (a dataset, a modality, a rival), each with an
estimate, a 95% bootstrap interval, the number of paired units and a verdict given by one rule,
:func:`verdict` (docs/protocol.md §7). The first row of each claim is its verdict.

A statistic that cannot be computed (a method or dataset not run, one client, no seeds, the
experiment absent from the config) gets the verdict ``not run`` and the reason, naming the
config key that would run it; nothing is dropped silently.

Per-client scores and intervals come from the reporting statistics through two functions only,
:func:`client_scores` and :func:`interval`, so that a change of how a client is scored or how
an interval is drawn reaches every claim at once.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fhbench.io import write_texts
from fhbench.metrics import RUN_KEYS
from fhbench.reporting.tables import dataset_modalities, load_metrics, method_label

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = "supported", "contradicted", "inconclusive", "not run"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN)
COLUMNS = ["claim", "scope", "statistic", "estimate", "ci_low", "ci_high", "n", "verdict", "evidence"]
CLIENT_UNIT = ["dataset", "partition", "seed", "client"]  # a paired client score
RUN_UNIT = ["dataset", "partition", "seed"]  # a paired run (costs are per run)
ABOVE_ZERO = (0.0, math.inf)

Method = tuple[str, str]  # (algorithm, variant)
EPFL: Method = ("epfl", "default")
BASELINES: tuple[Method, ...] = tuple((a, "default") for a in ("fedavg", "fedprox", "scaffold", "apfl", "apple", "fedala"))
PAPER_DATASETS = ("organamnist", "organcmnist", "organsmnist", "icbhi", "sprsound", "ptbxl", "adftd", "medabs", "pubmedrct")
MODALITIES = ("image", "audio", "timeseries", "text")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how this project tests it.

    ``comparisons`` are (better, worse) method pairs the claim asserts; ``claimed`` is the range
    of the statistic inside which the claim holds (``(0, inf)``: the claimed difference is
    positive); ``unit`` says how the statistic prints (``points`` of accuracy or ``%`` of a
    cost); ``judge`` names the function of :data:`JUDGES` that computes its rows.
    """

    number: int
    statement: str
    source: str
    experiment: str
    statistic: str
    judge: str
    comparisons: tuple[tuple[Method, Method], ...] = ()
    datasets: tuple[str, ...] = ()  # the scope it names; empty: the experiment's datasets
    claimed: tuple[float, float] = ABOVE_ZERO
    unit: str = "points"
    published: float | None = None
    named: tuple[str, ...] = ()  # datasets the claim singles out ("more so on the smaller ones")

    @property
    def axis(self) -> str:
        """The forest plot's axis label for this claim's statistic."""
        if self.published is not None:
            return f"accuracy − the published {100 * self.published:.0f}% (percentage points)"
        return "percentage points of accuracy" if self.unit == "points" else "% of the baseline's cost saved"

    @property
    def methods(self) -> tuple[Method, ...]:
        return tuple(dict.fromkeys(m for pair in self.comparisons for m in pair)) or (EPFL,)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        1,
        "EPFL outperforms the six baselines (FedAvg, FedProx, SCAFFOLD, APFL, APPLE, FedALA) on every one of the nine datasets.",
        "abstract and the main results table (EPFL against six baselines on nine datasets)",
        "main",
        "paired difference of client test accuracy, EPFL − the strongest of the six baselines",
        "every_dataset",
        comparisons=tuple((EPFL, b) for b in BASELINES),
        datasets=PAPER_DATASETS,
    ),
    Claim(
        2,
        "Similarity-weighted aggregation improves on uniform averaging, and more so on the smaller datasets (OrganCMNIST, OrganSMNIST).",
        "ablation of EPFL's aggregation weights (similarity against uniform)",
        "weights",
        "paired difference of client test accuracy, EPFL similarity − uniform weights",
        "weights",
        comparisons=((EPFL, ("epfl", "weights_uniform")),),
        named=("organcmnist", "organsmnist"),
    ),
    Claim(
        3,
        "Choosing the second half or all LoRA layers for the client distance beats the first half, across modalities.",
        "ablation of the LoRA layers entering EPFL's client distance",
        "layers",
        "paired difference of client test accuracy, EPFL with all (or the second half of the) layers − the first half",
        "every_modality",
        comparisons=((EPFL, ("epfl", "layers_first_half")), (("epfl", "layers_second_half"), ("epfl", "layers_first_half"))),
    ),
    Claim(
        4,
        "OrganAMNIST with 5 clients reaches about 88% accuracy.",
        "results, OrganAMNIST with 5 clients (the one published figure, docs/protocol.md introduction)",
        "clients5",
        "EPFL's client test accuracy − the published 88% ('about': within ±2 points)",
        "published",
        datasets=("organamnist",),
        claimed=(-0.02, 0.02),
        published=0.88,
    ),
    Claim(
        5,
        "EPFL costs less (communication and computation) than the baselines.",
        "abstract ('efficient') and the paper's efficiency discussion",
        "main",
        "paired relative saving per run, 1 − EPFL's cost / the cheapest baseline's (bytes sent; run time)",
        "cost",
        comparisons=tuple((EPFL, b) for b in BASELINES),
        datasets=PAPER_DATASETS,
        unit="%",
    ),
    Claim(
        6,
        "Sharing A and keeping B local beats sharing B, or both.",
        "EPFL's design: A is aggregated, B stays local (the asymmetry the paper asserts)",
        "share",
        "paired difference of client test accuracy, EPFL sharing A − sharing B (or both)",
        "every_rival",
        comparisons=((EPFL, ("epfl", "share_b")), (EPFL, ("epfl", "share_ab"))),
    ),
)


# --- the two call sites of the reporting statistics ----------------------------------------------


def client_scores(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (run, client): the protocol's test accuracy (``RUN_KEYS``, ``client``, ``value``).

    The only place the claims ask how a client is scored: the round the report's selection rule
    picks (:data:`fhbench.reporting.selection.DEFAULT`, docs/protocol.md §4), as every table does.
    """
    from fhbench.reporting.selection import client_scores as protocol_scores

    return protocol_scores(metrics, metric="accuracy", eval_point="local")[RUN_KEYS + ["client", "value"]]


def interval(units: pd.DataFrame) -> tuple[float, float, float, int]:
    """The estimate, 95% bootstrap interval and number of paired clients of ``units["value"]``
    (one row per paired unit, with its dataset, partition, seed and client): the reporting
    statistics' stratified bootstrap (clients the unit, resampled within each dataset column,
    seeds averaged first). The only place the claims draw an interval."""
    from fhbench.reporting.stats import stratified_mean_interval

    return stratified_mean_interval(units)


# --- the verdict rule ------------------------------------------------------------------------------


def verdict(ci_low: float, ci_high: float, claimed: tuple[float, float] = ABOVE_ZERO) -> str:
    """The one rule (docs/protocol.md §7): ``supported`` when the interval lies inside the claimed
    range, ``contradicted`` when it lies wholly outside it (touching its edge counts as outside),
    ``inconclusive`` otherwise. A claim that A beats B claims ``(0, inf)`` for A − B."""
    low, high = claimed
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return NOT_RUN
    if low < ci_low and ci_high < high:
        return SUPPORTED
    if ci_high <= low or ci_low >= high:
        return CONTRADICTED
    return INCONCLUSIVE


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _row(claim: Claim, scope: str, statistic: str, verdict_: str, evidence: str, estimate=np.nan, lo=np.nan, hi=np.nan, n=0) -> dict:
    return {
        "claim": claim.number,
        "scope": scope,
        "statistic": statistic,
        "estimate": float(estimate),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n": int(n),
        "verdict": verdict_,
        "evidence": evidence,
    }


def not_run(claim: Claim, scope: str, statistic: str, reason: str) -> dict:
    return _row(claim, scope, statistic, NOT_RUN, reason)


def judged(claim: Claim, scope: str, statistic: str, units: pd.DataFrame, evidence: str, what: str = "paired client scores") -> dict:
    """The row of one statistic: the mean of ``units["value"]``, its interval and the verdict."""
    n = len(units)
    if n < 2:
        reason = f"{n} {what}: an interval needs two or more (one client, or no run finished with test scores)"
        return not_run(claim, scope, statistic, _join(reason, evidence))
    estimate, lo, hi, n = interval(units)
    return _row(claim, scope, statistic, verdict(lo, hi, claim.claimed), evidence, estimate, lo, hi, n)


def conjunction(claim: Claim, scope: str, statistic: str, parts: Sequence[dict], evidence: str = "") -> dict:
    """A claim over several parts (every dataset, every rival) holds when each part holds.

    Its estimate is the smallest of the parts' estimates and its interval runs from the smallest
    lower bound to the smallest upper bound, so the same rule supports it only when every part is
    supported and contradicts it as soon as one part is. A part not run leaves it ``not run``
    unless another part already contradicts it."""
    done = [p for p in parts if p["verdict"] != NOT_RUN]
    missing = [p["scope"] for p in parts if p["verdict"] == NOT_RUN]
    counts = ", ".join(f"{sum(p['verdict'] == v for p in parts)} {v}" for v in VERDICTS if any(p["verdict"] == v for p in parts))
    summary = f"{len(parts)} parts: {counts}" + (f"; not run: {', '.join(missing)}" if missing else "")
    if missing:  # the first reason names the config key that would run it
        summary += f" (first: {next(p['evidence'] for p in parts if p['verdict'] == NOT_RUN)})"
    evidence = _join(summary, evidence)
    if not done:
        return not_run(claim, scope, statistic, evidence)
    est, lo, hi = (min(p[k] for p in done) for k in ("estimate", "ci_low", "ci_high"))
    n = min(p["n"] for p in done)
    rule = verdict(lo, hi, claim.claimed)
    if missing and rule != CONTRADICTED:
        return not_run(claim, scope, statistic, evidence)
    return _row(claim, scope, statistic, rule, evidence, est, lo, hi, n)


# --- what each claim reads -----------------------------------------------------------------------


def _spec(claim: Claim, experiments: Mapping[str, dict]) -> dict | None:
    return experiments.get(claim.experiment)


def claim_datasets(claim: Claim, spec: dict) -> list[str]:
    """The datasets a claim is judged on: those it names, else its experiment's."""
    return list(claim.datasets) or list(spec["datasets"])


def claim_runs(claim: Claim, experiments: Mapping[str, dict]) -> list[tuple]:
    """The configured runs (of any experiment) a claim reads: its methods, on its datasets, under
    its experiment's partitions. A run shared by several experiments is one run."""
    spec = _spec(claim, experiments)
    if spec is None:
        return []
    datasets, partitions, methods = set(claim_datasets(claim, spec)), set(spec["partitions"]), set(claim.methods)
    every = {tuple(r) for s in experiments.values() for r in s["runs"]}
    return sorted(r for r in every if r[0] in datasets and r[1] in partitions and (r[2], r[3]) in methods)


def needed_runs(experiments: Mapping[str, dict], claims: Sequence[Claim] = CLAIMS) -> list[tuple]:
    """Every run some claim reads: what ``tables/claims.md`` needs, and nothing more."""
    return sorted({r for claim in claims for r in claim_runs(claim, experiments)})


@dataclass
class Evidence:
    """What one claim reads: its runs' per-client scores, costs, and how to name them."""

    claim: Claim
    spec: dict
    experiments: Mapping[str, dict]
    scores: pd.DataFrame  # client_scores of the claim's runs
    runs: pd.DataFrame  # run keys present in the metrics
    costs: pd.DataFrame  # per run: bytes and wall_seconds (claim 5)

    @property
    def key(self) -> str:
        return f"experiments.{self.claim.experiment}"

    def method_scores(self, method: Method, datasets: Iterable[str] | None = None) -> pd.DataFrame:
        s = self.scores[(self.scores["algorithm"] == method[0]) & (self.scores["variant"] == method[1])]
        return s if datasets is None else s[s["dataset"].isin(list(datasets))]

    def paired(self, better: Method, worse: Method, datasets: Iterable[str] | None = None) -> pd.DataFrame:
        """``better − worse`` per paired client score (same dataset, partition, seed and client)."""
        a = self.method_scores(better, datasets).set_index(CLIENT_UNIT)["value"]
        b = self.method_scores(worse, datasets).set_index(CLIENT_UNIT)["value"]
        return (a - b).dropna().rename("value").reset_index()

    def compare(self, scope: str, better: Method, worse: Method, datasets: Sequence[str]) -> dict:
        """The row of ``better − worse`` paired on ``datasets``, or ``not run`` with the reason."""
        reason = self.missing([better, worse], datasets)
        if reason:
            return not_run(self.claim, scope, self.claim.statistic, reason)
        return judged(self.claim, scope, self.claim.statistic, self.paired(better, worse, datasets), self.sources(datasets))

    def missing(self, methods: Iterable[Method], datasets: Iterable[str]) -> str | None:
        """Why a comparison on ``datasets`` cannot be made (naming the config key), or None."""
        datasets = list(datasets)
        have = {(d, a, v) for d, a, v in zip(self.runs["dataset"], self.runs["algorithm"], self.runs["variant"])}
        absent = [d for d in datasets if not any(k[0] == d for k in have)]
        if absent and len(absent) == len(datasets):
            listed = [d for d in absent if d in self.spec["datasets"]]
            where = f"not in {self.key}.datasets" if not listed else "listed but without finished runs"
            return f"no runs on {', '.join(absent)} ({where})"
        lacking = [m for m in methods if not any((d, *m) in have for d in datasets)]
        if lacking:
            names = ", ".join(method_label(*m) for m in lacking)
            field_ = "variants" if all(m[0] == "epfl" and m[1] != "default" for m in lacking) else "algorithms"
            return f"no runs of {names} on {', '.join(datasets)} ({self.key}.{field_} must list them)"
        return None

    def sources(self, datasets: Iterable[str] | None = None) -> str:
        """The runs a row reads: how many, which seeds, and the experiments that list them (the
        claim's own, then any other that adds runs, e.g. baselines run by another experiment)."""
        runs = self.runs if datasets is None else self.runs[self.runs["dataset"].isin(list(datasets))]
        keys = {tuple(r) for r in runs[RUN_KEYS].itertuples(index=False)}
        names, covered = [self.claim.experiment], {tuple(r) for r in self.spec["runs"]}
        for name, spec in self.experiments.items():
            listed = keys & {tuple(r) for r in spec["runs"]}
            if listed - covered:
                names.append(name)
                covered |= listed
        seeds = ", ".join(str(s) for s in sorted(runs["seed"].unique()))
        plural = "" if len(keys) == 1 else "s"
        return f"{len(keys)} run{plural} of {' + '.join(names)} (seeds {seeds}); table {self.claim.experiment}_accuracy.csv"


def _suffix(claim: Claim) -> str:
    return " points" if claim.unit == "points" else "%"


def _pm(claim: Claim, x: float) -> str:
    return f"{100 * x:+.1f}{_suffix(claim)}"


def _short(claim: Claim, row: Mapping) -> str:
    return f"{_pm(claim, row['estimate'])} [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"


# --- how each kind of claim is judged --------------------------------------------------------------


def judge_every_dataset(ev: Evidence) -> list[dict]:
    """Claim 1: per dataset, EPFL against every rival (the strongest decides); then every dataset."""
    claim = ev.claim
    rows = []
    for dataset in claim_datasets(claim, ev.spec):
        reason = ev.missing(claim.methods, [dataset])
        if reason:
            rows.append(not_run(claim, dataset, claim.statistic, reason))
            continue
        parts = [
            judged(claim, method_label(*worse), claim.statistic, ev.paired(better, worse, [dataset]), "")
            for better, worse in claim.comparisons
        ]
        row = conjunction(claim, dataset, claim.statistic, parts)
        strongest = min((p for p in parts if p["verdict"] != NOT_RUN), key=lambda p: p["estimate"], default=None)
        named = f"strongest baseline {strongest['scope']} {_short(claim, strongest)}" if strongest else ""
        row["evidence"] = _join(named, row["evidence"], ev.sources([dataset]))
        rows.append(row)
    head = conjunction(claim, "every dataset", "smallest per-dataset paired difference, EPFL − the strongest baseline", rows)
    return [head] + rows


def judge_weights(ev: Evidence) -> list[dict]:
    """Claim 2: similarity − uniform pooled over the datasets run, then the named smaller datasets
    against the others (the difference of the two pooled means; its interval subtracts the two
    95% intervals, which is conservative), then each dataset."""
    claim = ev.claim
    ((better, worse),) = claim.comparisons
    datasets = claim_datasets(claim, ev.spec)
    per_dataset = [ev.compare(dataset, better, worse, [dataset]) for dataset in datasets]
    run = [r["scope"] for r in per_dataset if r["verdict"] != NOT_RUN]
    pooled_stat = "paired difference of client test accuracy, similarity − uniform, pooled over the datasets run"
    reason = ev.missing(claim.methods, datasets)
    pooled = (
        not_run(claim, "all datasets", pooled_stat, reason)
        if reason or not run
        else judged(
            claim, f"pooled over {len(run)} dataset(s)", pooled_stat, ev.paired(better, worse, run), _join(", ".join(run), ev.sources(run))
        )
    )
    small_stat = f"improvement on {' and '.join(claim.named)} − improvement on the other datasets (intervals subtracted: conservative)"
    scope = f"{', '.join(claim.named)} vs others"
    others = [d for d in run if d not in claim.named]
    lacking = [d for d in claim.named if d not in run]
    if lacking or not others:
        need = ", ".join(lacking) if lacking else "a dataset other than " + ", ".join(claim.named)
        more = not_run(claim, scope, small_stat, f"needs weights runs on {need}: add it to {ev.key}.datasets")
    else:
        small, rest = ev.paired(better, worse, claim.named), ev.paired(better, worse, others)
        if min(len(small), len(rest)) < 2:
            more = not_run(claim, scope, small_stat, f"{len(small)} and {len(rest)} paired client scores: an interval needs two or more")
        else:
            (est_s, lo_s, hi_s, _), (est_o, lo_o, hi_o, _) = interval(small), interval(rest)
            lo, hi = lo_s - hi_o, hi_s - lo_o
            est = est_s - est_o
            evidence = f"{_pm(claim, est_s)} on {', '.join(claim.named)}, {_pm(claim, est_o)} on {', '.join(others)}; {ev.sources(run)}"
            more = _row(claim, scope, small_stat, verdict(lo, hi, claim.claimed), evidence, est, lo, hi, min(len(small), len(rest)))
    head = conjunction(claim, "both parts", "smallest of the two parts: improvement, and more so on the smaller datasets", [pooled, more])
    return [head, pooled, more] + per_dataset


def judge_every_modality(ev: Evidence) -> list[dict]:
    """Claim 3: per modality (datasets pooled) each comparison; then every modality and comparison."""
    claim = ev.claim
    modality = dataset_modalities(claim_datasets(claim, ev.spec))
    rows = []
    for mod in MODALITIES:
        datasets = [d for d, m in modality.items() if m == mod]
        for better, worse in claim.comparisons:
            scope = f"{mod}: {better[1].replace('layers_', '')} − {worse[1].replace('layers_', '')}".replace("default", "all")
            if not datasets:
                reason = f"no {mod} dataset in {ev.key}.datasets: add one"
                rows.append(not_run(claim, scope, claim.statistic, reason))
                continue
            rows.append(ev.compare(scope, better, worse, datasets))
    head = conjunction(claim, "every modality", "smallest paired difference over modalities and both layer choices", rows)
    return [head] + rows


def judge_every_rival(ev: Evidence) -> list[dict]:
    """Claim 6: EPFL's default against each alternative, pooled over the datasets run; then all."""
    claim = ev.claim
    datasets = claim_datasets(claim, ev.spec)
    rows = [ev.compare(f"vs {method_label(*worse)}", better, worse, datasets) for better, worse in claim.comparisons]
    head = conjunction(claim, "every alternative", "smallest paired difference over the alternatives", rows)
    return [head] + rows


def judge_published(ev: Evidence) -> list[dict]:
    """Claim 4: EPFL's client scores minus the published figure, against ±margin."""
    claim = ev.claim
    datasets = claim_datasets(claim, ev.spec)
    scope = f"{', '.join(datasets)}, {', '.join(ev.spec['partitions'])}"
    reason = ev.missing([EPFL], datasets)
    if reason:
        return [not_run(claim, scope, claim.statistic, reason)]
    units = ev.method_scores(EPFL, datasets)[CLIENT_UNIT + ["value"]].dropna().assign(value=lambda f: f["value"] - claim.published)
    row = judged(claim, scope, claim.statistic, units, "", what="client scores")
    if row["verdict"] != NOT_RUN:
        mean = units["value"].mean() + claim.published
        row["evidence"] = f"EPFL {100 * mean:.1f}% against the published {100 * claim.published:.0f}%; {ev.sources(datasets)}"
    return [row]


def judge_cost(ev: Evidence) -> list[dict]:
    """Claim 5: per cost (bytes sent, run time) the paired relative saving against every baseline
    (the cheapest decides); then both costs."""
    claim = ev.claim
    datasets = claim_datasets(claim, ev.spec)
    costs = ev.costs[ev.costs["dataset"].isin(datasets)]
    rows = []
    for column, scope, source in (
        ("bytes", "communication", "metrics.csv comm rows"),
        ("wall_seconds", "run time", "run.json wall_seconds"),
    ):
        statistic = f"paired relative saving in {scope} per run, 1 − EPFL / baseline (the cheapest baseline decides)"
        reason = ev.missing(claim.methods, datasets)
        if reason:
            rows.append(not_run(claim, scope, statistic, reason))
            continue
        present = costs.dropna(subset=[column])
        parts = []
        for better, worse in claim.comparisons:
            mine = present[(present["algorithm"] == better[0]) & (present["variant"] == better[1])].set_index(RUN_UNIT)[column]
            theirs = present[(present["algorithm"] == worse[0]) & (present["variant"] == worse[1])].set_index(RUN_UNIT)[column]
            saving = (1 - mine / theirs.where(theirs > 0)).dropna().rename("value").reset_index()
            parts.append(judged(claim, method_label(*worse), statistic, saving, "", what="paired runs"))
        row = conjunction(claim, scope, statistic, parts)
        cheapest = min((p for p in parts if p["verdict"] != NOT_RUN), key=lambda p: p["estimate"], default=None)
        named = f"cheapest baseline {cheapest['scope']} {_short(claim, cheapest)}" if cheapest else ""
        lacking = int(costs[column].isna().sum())
        gap = f"{lacking} run(s) without {source.split()[-1]}" if lacking else ""
        row["evidence"] = _join(named, row["evidence"], source, gap, ev.sources(datasets))
        rows.append(row)
    head = conjunction(claim, "communication and run time", "smallest paired relative saving over both costs", rows)
    return [head] + rows


JUDGES: dict[str, Callable[[Evidence], list[dict]]] = {
    "every_dataset": judge_every_dataset,
    "weights": judge_weights,
    "every_modality": judge_every_modality,
    "published": judge_published,
    "cost": judge_cost,
    "every_rival": judge_every_rival,
}


# --- the table ---------------------------------------------------------------------------------------


def run_costs(metrics: pd.DataFrame, infos: Iterable[Mapping] = ()) -> pd.DataFrame:
    """Per run: bytes sent (upload + download over every round and client, from the metrics'
    ``comm`` rows) and wall seconds (the run's own record in run.json; NaN where absent)."""
    runs = metrics[RUN_KEYS].drop_duplicates()
    comm = metrics[(metrics["split"] == "comm") & metrics["metric"].isin(["upload_bytes", "download_bytes"])]
    sent = comm.groupby(RUN_KEYS)["value"].sum().rename("bytes").reset_index()
    timed = [
        {**{k: info["config"][k] for k in RUN_KEYS}, "wall_seconds": float(info["wall_seconds"])}
        for info in infos
        if isinstance(info.get("config"), Mapping) and all(k in info["config"] for k in RUN_KEYS) and "wall_seconds" in info
    ]
    wall = pd.DataFrame(timed, columns=RUN_KEYS + ["wall_seconds"]).astype({"seed": "int64"})
    out = runs.astype({"seed": "int64"}).merge(sent, on=RUN_KEYS, how="left").merge(wall, on=RUN_KEYS, how="left")
    return out


def judge_claims(
    metrics: pd.DataFrame, experiments: Mapping[str, dict], infos: Iterable[Mapping] = (), claims: Sequence[Claim] = CLAIMS
) -> pd.DataFrame:
    """The claims table (:data:`COLUMNS`): each claim's verdict row first, then its parts.

    Parameters
    ----------
    metrics
        Tidy metrics of (at least) the runs the claims read (:func:`needed_runs`).
    experiments
        Name → ``fhbench.grid.experiment_spec`` (with ``runs``) of every configured experiment.
    infos
        The runs' run.json contents: the cost claim reads their wall time.
    """
    metrics = metrics.astype({"seed": "int64"}) if len(metrics) else metrics
    infos = list(infos)
    rows = []
    for claim in claims:
        spec = _spec(claim, experiments)
        if spec is None:
            reason = f"experiments.{claim.experiment} is not in this config (config/config.yaml defines it)"
            rows.append(not_run(claim, "all", claim.statistic, reason))
            continue
        wanted = pd.DataFrame(claim_runs(claim, experiments), columns=RUN_KEYS).astype({"seed": "int64"})
        mine = metrics.merge(wanted, on=RUN_KEYS, how="inner") if len(metrics) and len(wanted) else metrics.iloc[0:0]
        scores = client_scores(mine) if len(mine) else pd.DataFrame(columns=RUN_KEYS + ["client", "value"])
        costs = run_costs(mine, infos) if len(mine) else pd.DataFrame(columns=RUN_KEYS + ["bytes", "wall_seconds"])
        evidence = Evidence(claim, spec, experiments, scores.astype({"seed": "int64"}), mine[RUN_KEYS].drop_duplicates(), costs)
        rows += JUDGES[claim.judge](evidence)
    return pd.DataFrame(rows, columns=COLUMNS)


def headline_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Each claim's verdict: its first row."""
    return table.groupby("claim", sort=True).head(1).reset_index(drop=True)


def _claim(number: int, claims: Sequence[Claim] = CLAIMS) -> Claim:
    return next(c for c in claims if c.number == number)


def number_text(row: Mapping, claims: Sequence[Claim] = CLAIMS) -> str:
    """``+1.2 points (95% interval −0.3 to +2.6; n = 40)``, or the reason it was not run."""
    if row["verdict"] == NOT_RUN:
        return "–"
    claim = _claim(int(row["claim"]), claims)
    lo, hi = (f"{100 * row[k]:+.1f}" for k in ("ci_low", "ci_high"))
    return f"{_pm(claim, row['estimate'])} (95% interval {lo} to {hi}{_suffix(claim)}; n = {int(row['n'])})"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


RULE_TEXT = (
    "Verdict rule (docs/protocol.md §7): **supported** when the 95% bootstrap interval of the claimed statistic lies "
    'inside the claimed range (above 0 for "A beats B"; within ±2 points of 88% for claim 4), **contradicted** when '
    "it lies wholly outside it, **inconclusive** otherwise; **not run** when the statistic cannot be computed (the reason "
    "is in the evidence). A claim over several parts takes the smallest estimate and bounds of its parts: supported only "
    "when every part is, contradicted as soon as one is."
)


def to_markdown(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> str:
    lines = [
        "# The paper's claims",
        "",
        RULE_TEXT + " The first row of each claim is its verdict; the rows below it are its parts.",
        "",
        "| claim | scope | statistic | estimate (95% interval; n) | verdict | evidence |",
        "|---|---|---|---|---|---|",
    ]
    previous = None
    for _, row in table.iterrows():
        claim = _claim(int(row["claim"]), claims)
        first, previous = row["claim"] != previous, row["claim"]
        label = f"**{claim.number}. {claim.statement}**" if first else str(claim.number)
        verdict_ = f"**{row['verdict']}**" if first else row["verdict"]
        cells = [label, row["scope"], row["statistic"], number_text(row, claims), verdict_, row["evidence"]]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    lines += ["", "Where each claim comes from in the paper:", ""]
    lines += [f"{c.number}. {c.source} (config key `experiments.{c.experiment}`)." for c in claims]
    return "\n".join(lines) + "\n"


DEMO_NOTE = (
    "In the demo these verdicts are about the pipeline, not the paper: they show that every claim is computed "
    "from the runs, on generated twins and tiny models."
)


def claims_section(table: pd.DataFrame, demo: bool = False, table_dir: str = "tables", figure_dir: str = "figures") -> list[str]:
    """REPORT.md's opening section: each claim, its verdict and the one number behind it."""
    lines = [
        "## Claims",
        "",
        f"Does this run reproduce the paper's claims? Each claim's verdict and the number behind it; every part in "
        f"[the claims table]({table_dir}/claims.md) ([CSV]({table_dir}/claims.csv)), intervals in "
        f"[the forest plot]({figure_dir}/claims.png). {RULE_TEXT}",
        "",
    ]
    if demo:
        lines += [f"> **{DEMO_NOTE}**", ""]
    lines += ["| # | claim | verdict | the number behind it |", "|---|---|---|---|"]
    for _, row in headline_rows(table).iterrows():
        claim = _claim(int(row["claim"]))
        if row["verdict"] == NOT_RUN:
            number = f"not run: {row['evidence']} (`experiments.{claim.experiment}` runs it)"
        else:
            number = f"{row['statistic']} ({row['scope']}): {number_text(row)}"
        lines.append(f"| {claim.number} | {_md_cell(claim.statement)} | **{row['verdict']}** | {_md_cell(number)} |")
    return lines + [""]


VERDICT_COLOURS = {SUPPORTED: "#1a9850", CONTRADICTED: "#d73027", INCONCLUSIVE: "#f39c12", NOT_RUN: "#9e9e9e"}


def forest_plot(table: pd.DataFrame, title: str = "The paper's claims: estimate and 95% interval", claims: Sequence[Claim] = CLAIMS):
    """One panel per claim (its own unit), one line per row: the estimate and its interval,
    coloured by verdict; the claimed range shaded; rows not run are written, not drawn."""
    from fhbench.reporting.figures import _finish, _pyplot

    plt = _pyplot()
    groups = [(c, table[table["claim"] == c.number]) for c in claims if (table["claim"] == c.number).any()]
    heights = [max(1, len(rows)) + 1.2 for _, rows in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 0.32 * sum(heights) + 1), gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (claim, rows) in zip(axes[:, 0], groups):
        rows = rows.reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        drawn = rows["verdict"] != NOT_RUN
        values = 100 * rows.loc[drawn, ["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
        low, high = (100 * v for v in claim.claimed)
        span = [*values.ravel(), *(v for v in (low, high) if np.isfinite(v))]
        left, right = (min(span), max(span)) if len(span) > 1 else (-1.0, 1.0)
        pad = max(0.5, 0.08 * (right - left))
        left, right = left - pad, right + pad
        ax.axvspan(max(low, left), min(high, right), color="#1a9850", alpha=0.08, lw=0)
        for edge in (low, high):
            if np.isfinite(edge):
                ax.axvline(edge, color="black", lw=0.8, ls="--")
        for i, row in rows.iterrows():
            colour = VERDICT_COLOURS[row["verdict"]]
            if row["verdict"] == NOT_RUN:
                ax.text(left + pad * 0.3, y[i], "not run", va="center", fontsize=7, color=colour, style="italic")
                continue
            est, lo, hi = (100 * row[k] for k in ("estimate", "ci_low", "ci_high"))
            ax.plot([lo, hi], [y[i], y[i]], color=colour, lw=2 if i == 0 else 1.4)
            ax.plot([est], [y[i]], marker="D" if i == 0 else "o", color=colour, ms=6 if i == 0 else 4)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{'▶ ' if i == 0 else ''}{s}" for i, s in enumerate(rows["scope"])], fontsize=7)
        ax.set_xlim(left, right)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(textwrap.fill(f"Claim {claim.number}: {claim.statement}", 110), fontsize=8, loc="left")
        ax.set_xlabel(claim.axis, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    handles = [plt.Line2D([], [], color=c, marker="o", lw=1.4, label=v) for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig = _finish(fig, title)
    fig.subplots_adjust(bottom=max(0.04, 0.6 / fig.get_figheight()))
    return fig


def write_claims(
    metrics_paths: Iterable[str | Path],
    experiments: Mapping[str, dict],
    csv_out: str | Path,
    md_out: str | Path,
    figures_out: Sequence[str | Path] = (),
    info_paths: Iterable[str | Path] = (),
) -> pd.DataFrame:
    """Read the runs' metrics and run.json, judge every claim and write the CSV, Markdown and forest plot."""
    from fhbench.reporting.figures import save_figure

    paths = list(metrics_paths)
    metrics = load_metrics(paths) if paths else pd.DataFrame(columns=RUN_KEYS + ["round", "client", "split", "metric", "value"])
    infos = [json.loads(Path(p).read_text()) for p in info_paths if Path(p).exists()]
    table = judge_claims(metrics, experiments, infos)
    write_texts({csv_out: table.to_csv(index=False), md_out: to_markdown(table)})
    if figures_out:
        save_figure(forest_plot(table), figures_out)
    return table
