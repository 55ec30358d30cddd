"""Scoring a client: at which round its test score is taken, and how clients combine into a run's score.

Every table, figure and finding reads client scores through this module, so the rule changes in
one place (:data:`DEFAULT`). A :class:`SelectionRule` has two parts:

``rounds`` — which evaluation round of a client is scored:

- ``best_val`` (the default): the round of the client's highest validation accuracy. Ties are
  broken by the **lower validation loss**, then by the **later round**. Validation parts hold
  1–7 samples on the fhbench splits, so most clients reach their best accuracy at several
  rounds; the published code keeps the first of them, which scores barely trained models (on
  the demo, three in four of EPFL's picks were round 2). The validation loss still uses
  validation data only and tells those rounds apart by how confidently the model is right; the
  later round is the last resort because it has trained longest. Metrics without loss rows
  (files written before the engine recorded them) fall straight to the later round.
- ``best_val_first``: the published code's rule, the first round reaching the best validation
  accuracy (ties to the earliest round); kept to show what the tie-break changes.
- ``final``: the run's last evaluated round.
- ``last_k``: the mean of the test scores of the run's last ``k`` evaluated rounds.

``combine`` — how a run's clients make one number:

- ``client_mean`` (the default, as published): the plain mean over scored clients;
- ``sample_weighted``: the mean weighted by each client's test-part size (the pooled accuracy
  over all test samples for ``accuracy``); needs the engine's ``data``/``n_test`` rows.

The API, stable for other modules:

- :func:`client_scores` (metrics → one row per run × client: ``round``, ``value``, ``weight``),
- :func:`run_scores` (metrics → one row per run: ``score`` and its spread over clients),
- :func:`combine` (client scores → per-group combined value),
- :meth:`SelectionRule.describe` (the sentence table captions and REPORT.md print),
- :data:`DEFAULT`, :data:`PUBLISHED` and :data:`COMPARED` (the rules the selection table sets side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fhbench.metrics import RUN_KEYS, at_eval_point, bottom10, diverged_runs

ROUND_RULES = ("best_val", "best_val_first", "final", "last_k")
COMBINE_RULES = ("client_mean", "sample_weighted")
CLIENT_COLUMNS = RUN_KEYS + ["client", "round", "value", "weight"]
RUN_COLUMNS = RUN_KEYS + ["score", "std", "worst", "bottom10", "n_clients", "diverged"]
#: Validation accuracies closer than this are equal (they are fractions k/n of tiny parts).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SelectionRule:
    """Which round a client is scored at (``rounds``, ``k`` for ``last_k``) and how clients combine."""

    rounds: str = "best_val"
    combine: str = "client_mean"
    k: int = 3

    def __post_init__(self) -> None:
        if self.rounds not in ROUND_RULES:
            raise ValueError(f"selection rounds must be one of {ROUND_RULES}, got {self.rounds!r}")
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"selection combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        if self.k < 1:
            raise ValueError(f"selection k must be at least 1, got {self.k}")

    @property
    def label(self) -> str:
        """A short column heading: ``best val`` / ``final`` / ``last 3`` …, ``weighted`` when so."""
        rounds = {
            "best_val": "best val (loss, later)",
            "best_val_first": "best val (earliest)",
            "final": "final round",
            "last_k": f"mean of last {self.k}",
        }[self.rounds]
        return rounds + (", sample-weighted" if self.combine == "sample_weighted" else "")

    def describe(self) -> str:
        """The rule as one sentence fragment for captions: where each client is scored and how clients combine."""
        rounds = {
            "best_val": "at each client's best validation-accuracy round (ties: lower validation loss, then the later round)",
            "best_val_first": "at each client's first round reaching its best validation accuracy (the published code's tie-break)",
            "final": "at the run's last evaluated round",
            "last_k": f"averaged over the run's last {self.k} evaluated rounds",
        }[self.rounds]
        combine = "mean over clients" if self.combine == "client_mean" else "mean over clients weighted by test-part size"
        return f"{rounds}, {combine}"


DEFAULT = SelectionRule()
PUBLISHED = SelectionRule(rounds="best_val_first")
#: The rules REPORT.md's selection table compares with :data:`DEFAULT`, by column name.
COMPARED: dict[str, SelectionRule] = {
    "best_val": DEFAULT,
    "best_val_first": PUBLISHED,
    "final": SelectionRule(rounds="final"),
    "last_k": SelectionRule(rounds="last_k", k=3),
    "weighted": SelectionRule(combine="sample_weighted"),
}


def _keys(metrics: pd.DataFrame) -> list[str]:
    return [c for c in RUN_KEYS if c in metrics.columns]


def test_sizes(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (run keys, client): its test-part size ``weight`` from the engine's round-0 ``data``/``n_test`` rows."""
    keys = _keys(metrics)
    rows = metrics[(metrics["split"] == "data") & (metrics["metric"] == "n_test")]
    return rows[keys + ["client"]].assign(weight=rows["value"].astype(float)).drop_duplicates(keys + ["client"])


def _best_validation_rounds(metrics: pd.DataFrame, keys: list[str], later_first: bool) -> pd.DataFrame:
    """Per (run keys, client): the round of the highest validation accuracy, ties broken as the rule says."""
    group = keys + ["client"]
    val = metrics[(metrics["split"] == "val") & metrics["metric"].isin(["accuracy", "loss"])]
    if val.empty:
        return pd.DataFrame(columns=group + ["round"])
    wide = val.groupby(group + ["round", "metric"], sort=False)["value"].first().unstack("metric")
    wide = wide.reindex(columns=["accuracy", "loss"]).reset_index()
    # A client with an empty validation part (NaN accuracy) has no best round and no row.
    wide = wide[wide["accuracy"].notna()].copy()
    wide["_acc"] = (wide["accuracy"] / TIE_TOLERANCE).round() * TIE_TOLERANCE
    if later_first:
        # Lower loss first; a missing loss (older files) ranks after any recorded one, then the later round.
        wide["_loss"] = wide["loss"].fillna(np.inf)
        order, ascending = ["_acc", "_loss", "round"], [False, True, False]
    else:
        order, ascending = ["_acc", "round"], [False, True]
    wide = wide.sort_values(group + order, ascending=[True] * len(group) + ascending, kind="stable")
    return wide.drop_duplicates(group, keep="first")[group + ["round"]]


def client_scores(
    metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local", rule: SelectionRule = DEFAULT
) -> pd.DataFrame:
    """One row per (run, client) scored under ``rule``: ``round`` (the selected round; the last of
    the window for ``last_k``), ``value`` (the test ``metric`` there) and ``weight`` (the client's
    test-part size, NaN when the metrics do not record it).

    Clients without a score (no validation row for ``best_val``, an empty test part) are left out;
    :func:`run_scores` counts the clients it combines.
    """
    metrics = at_eval_point(metrics, eval_point)
    keys = _keys(metrics)
    group = keys + ["client"]
    test = metrics[(metrics["split"] == "test") & (metrics["metric"] == metric)][group + ["round", "value"]]
    if rule.rounds in ("best_val", "best_val_first"):
        chosen = _best_validation_rounds(metrics, keys, later_first=rule.rounds == "best_val")
        out = chosen.merge(test, on=group + ["round"], how="left", validate="one_to_one")
    else:
        # The run's last k evaluated rounds (a diverged run's are those before it stopped).
        rank = test.groupby(keys)["round"].rank(method="dense", ascending=False)
        window = test[rank <= (1 if rule.rounds == "final" else rule.k)]
        out = window.groupby(group, sort=True).agg(round=("round", "max"), value=("value", "mean")).reset_index()
    out = out.merge(test_sizes(metrics), on=group, how="left")
    if "weight" not in out:
        out["weight"] = np.nan
    out = out.dropna(subset=["value"]).reset_index(drop=True)
    out["round"] = out["round"].astype(int)
    out["value"] = out["value"].astype(float)
    out["weight"] = out["weight"].astype(float)
    return out[group + ["round", "value", "weight"]]


def combine(scores: pd.DataFrame, by: list[str], rule: SelectionRule = DEFAULT) -> pd.Series:
    """Per group of ``by``: the clients' ``value`` combined as ``rule.combine`` says.

    ``sample_weighted`` gives NaN for a group whose clients lack a recorded test size: an
    unweighted number under a weighted heading would be wrong without saying so.
    """
    if rule.combine == "client_mean":
        return scores.groupby(by, sort=True)["value"].mean()
    frame = scores.assign(_wv=scores["value"] * scores["weight"])
    sums = frame.groupby(by, sort=True)[["_wv", "weight"]].sum(min_count=1)
    complete = scores["weight"].notna().groupby([scores[c] for c in by], sort=True).all()
    out = sums["_wv"] / sums["weight"]
    return out.where(complete & (sums["weight"] > 0))


def run_scores(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local", rule: SelectionRule = DEFAULT) -> pd.DataFrame:
    """One row per run: ``score`` (clients combined under ``rule``), ``std``, ``worst`` and
    ``bottom10`` over its clients (sample std; the lowest client; the mean of the worst 10%, at
    least one, :func:`fhbench.metrics.bottom10`), ``n_clients`` scored and ``diverged`` (a run
    stopped on a non-finite loss: its scores cover the rounds before, NaN when none was evaluated)."""
    keys = _keys(metrics)
    runs = metrics[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    per_client = client_scores(metrics, metric, eval_point, rule)
    if per_client.empty:
        spread = pd.DataFrame(columns=keys + ["score", "std", "worst", "bottom10", "n_clients"])
    else:
        spread = per_client.groupby(keys)["value"].agg(std="std", worst="min", bottom10=bottom10, n_clients="count").reset_index()
        spread = spread.merge(combine(per_client, keys, rule).rename("score").reset_index(), on=keys)
    out = runs.merge(spread, on=keys, how="left")
    out = out.merge(diverged_runs(metrics).assign(diverged=True), on=keys, how="left")
    out["diverged"] = out["diverged"].astype("boolean").fillna(False).astype(bool)
    out["n_clients"] = out["n_clients"].fillna(0).astype(int)
    for col in ("score", "std", "worst", "bottom10"):
        out[col] = out[col].astype(float)
    return out[[c for c in RUN_COLUMNS if c in out.columns]]
