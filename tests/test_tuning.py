"""Tuning: the trial list is a pure function of the config and the group, trials score validation
only, the selection takes each group's best by validation score (ties to the lower trial), and
bad tuning settings fail at once with one line naming the key."""

from __future__ import annotations

import copy
import math
import re

import pandas as pd
import pytest
import yaml

from fhbench import grid, tuning
from fhbench.config import load_config, validate_config
from fhbench.errors import ConfigError


@pytest.fixture
def demo(repo) -> dict:
    return yaml.safe_load((repo / "config" / "demo.yaml").read_text())


def all_group_trials(config: dict) -> dict:
    return {g: tuning.group_trials(config, *g) for g in tuning.groups(config)}


def test_adding_a_dataset_or_an_algorithm_changes_no_other_groups_trials(demo):
    before = all_group_trials(validate_config(copy.deepcopy(demo)))
    grown = copy.deepcopy(demo)
    tuned = grown["experiments"]["tuned"]
    tuned["datasets"] = ["organamnist", *tuned["datasets"]]  # first, so every other group moves position
    tuned["algorithms"] = ["scaffold", *tuned["algorithms"]]
    after = all_group_trials(validate_config(grown))
    assert set(before) < set(after) and len(after) == len(before) + 4 + 2  # organamnist × 4 methods, scaffold × the 2 others
    for group, trials in before.items():
        assert after[group] == trials, group
    keys_before = set(tuning.trial_runs(validate_config(copy.deepcopy(demo))))
    assert keys_before < set(tuning.trial_runs(validate_config(grown)))


def test_trials_are_the_configured_values_then_draws_inside_the_space(demo):
    config = validate_config(demo)
    budget = config["tuning"]["trials"]
    for dataset, partition, algorithm in tuning.groups(config):
        trials = tuning.group_trials(config, dataset, partition, algorithm)
        space = tuning.search_space(config, algorithm)
        assert len(trials) == budget and all(set(t) == set(space) for t in trials)
        assert trials[0] == {k: tuning.configured_values(config, dataset, algorithm)[k] for k in space}
        lr = config["datasets"][dataset]["lr"]
        for trial in trials[1:]:
            assert 0.1 * lr * 0.999 <= trial["lr"] <= 10 * lr * 1.001
            for name, dim in space.items():
                if dim.scale == "choice":
                    assert trial[name] in dim.choices
                elif not dim.relative:
                    assert dim.low <= trial[name] <= dim.high
        assert len({tuple(sorted(map(str, t.items()))) for t in trials}) == budget  # no repeated setting
    again = validate_config(yaml.safe_load(yaml.safe_dump(demo)))
    assert all_group_trials(again) == all_group_trials(config)


def test_groups_draw_from_their_own_key_and_the_sampler_seed(demo):
    config = validate_config(demo)
    a = tuning.group_trials(config, "medabs", "fhbench", "fedprox")
    b = tuning.group_trials(config, "ptbxl", "fhbench", "fedprox")
    assert [t["mu"] for t in a[1:]] != [t["mu"] for t in b[1:]]
    reseeded = copy.deepcopy(demo)
    reseeded["tuning"]["sampler"]["seed"] = 1
    assert tuning.group_trials(validate_config(reseeded), "medabs", "fhbench", "fedprox")[1:] != a[1:]


def test_a_trial_run_scores_validation_only_with_its_values_and_rounds(demo):
    config = validate_config(demo)
    key = tuning.TrialKey("medabs", "fhbench", "fedprox", 2, 0, "demo")
    run = tuning.trial_run_config(config, key)
    values = tuning.group_trials(config, "medabs", "fhbench", "fedprox")[2]
    assert run["eval_splits"] == ["val"] and run["rounds"] == config["tuning"]["rounds"]
    assert run["lr"] == values["lr"] and run["algorithm_params"]["mu"] == values["mu"]
    assert run["variant"] == "trial2" and run["eval_points"] == ["local"]
    assert key.directory == "results/demo/tuning/runs/medabs/fhbench/fedprox/trial2/seed0"
    assert tuning.is_trial(config, key) and not tuning.is_trial(config, tuning.TrialKey("medabs", "fhbench", "fedprox", 4, 0, "demo"))
    from fhbench.federation import RunConfig

    assert RunConfig.from_dict(run).eval_splits == ("val",)


def test_a_tuned_experiment_runs_the_tuned_variant_beside_its_default_twins(demo):
    config = validate_config(demo)
    runs = grid.experiment_runs(config, "tuned")
    assert {k.variant for k in runs} == {grid.TUNED} and len(runs) == 2 * 3
    assert {tuning.default_twin(k) for k in runs} <= set(grid.all_runs(config))
    assert grid.experiment_spec(config, "tuned")["variants"] == [grid.TUNED]
    key = runs[0]
    assert key.directory.endswith(f"/{key.algorithm}/tuned/seed0") and key.directory != tuning.default_twin(key).directory
    # Default settings until its run applies the selection; the points scored follow the experiments a run is in.
    resolved, default = (grid.resolve_run_config(config, k) for k in (key, tuning.default_twin(key)))
    assert resolved == default | {"variant": grid.TUNED, "eval_points": resolved["eval_points"]}


def test_a_tuned_run_applies_its_groups_selection(demo, tmp_path):
    config = validate_config(demo)
    key = grid.RunKey("medabs", "fhbench", "fedprox", grid.TUNED, 0, "demo")
    path = tmp_path / "selected.json"
    path.write_text('{"values": {"lr": 0.2, "mu": 0.01}}')
    run = tuning.apply_selection(grid.resolve_run_config(config, key), path)
    assert run["lr"] == 0.2 and run["algorithm_params"]["mu"] == 0.01 and run["variant"] == grid.TUNED


def tidy(rows: list[tuple]) -> pd.DataFrame:
    """metrics.csv rows from (round, client, split, metric, value)."""
    frame = pd.DataFrame(rows, columns=["round", "client", "split", "metric", "value"])
    return frame.assign(eval_point="local")


def test_validation_score_is_the_mean_of_the_last_evaluations_of_the_client_mean_and_ignores_test():
    rows = []
    for round_, values in {2: (0.1, 0.3), 4: (0.4, 0.6), 6: (0.6, 0.8)}.items():
        for client, value in enumerate(values):
            rows += [(round_, client, "val", "balanced_accuracy", value), (round_, client, "test", "balanced_accuracy", 1.0)]
            rows += [(round_, client, "val", "accuracy", 0.99)]
    metrics = tidy(rows)
    assert tuning.validation_score(metrics, last=2) == pytest.approx((0.5 + 0.7) / 2)
    assert tuning.validation_score(metrics, last=1) == pytest.approx(0.7)
    assert tuning.validation_score(metrics, metric="accuracy", last=3) == pytest.approx(0.99)
    assert math.isnan(tuning.validation_score(metrics[metrics.split != "val"]))


def test_selection_takes_the_best_validation_score_with_ties_to_the_lower_trial():
    frame = pd.DataFrame(
        {
            "dataset": ["a"] * 4 + ["b"] * 3 + ["c"] * 2,
            "partition": "p",
            "algorithm": "fedavg",
            "trial": [0, 1, 2, 3, 0, 1, 2, 0, 1],
            "val_score": [0.5, 0.7, 0.7, 0.6, math.nan, 0.2, math.nan, math.nan, math.nan],
        }
    )
    chosen = frame[tuning.select_trials(frame)]
    assert list(zip(chosen.dataset, chosen.trial)) == [("a", 1), ("b", 1), ("c", 0)]
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = shuffled[tuning.select_trials(shuffled)].sort_values("dataset")
    assert list(zip(again.dataset, again.trial)) == [("a", 1), ("b", 1), ("c", 0)]


def test_group_selection_scores_each_trial_over_its_seeds_and_never_picks_a_diverged_one():
    def run(score: float) -> pd.DataFrame:
        return tidy([(r, c, "val", "balanced_accuracy", score) for r in (2, 4) for c in (0, 1)])

    trials = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    runs = [
        (0, 0, run(0.4), "completed"),
        (0, 1, run(0.6), "completed"),
        (1, 0, run(0.5), "completed"),
        (1, 1, run(0.5), "completed"),  # ties trial 0 over its two seeds: trial 0 wins
        (2, 0, run(0.9), "diverged"),
        (2, 1, run(0.9), "completed"),
    ]
    record = tuning.group_selection(trials, runs, {"metric": "balanced_accuracy", "eval_point": "local", "last": 2}, ("d", "p", "a"))
    assert [t["val_score"] for t in record["trials"][:2]] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert math.isnan(record["trials"][2]["val_score"]) and record["trials"][2]["status"] != "completed"
    assert record["selected"] == 0 and record["values"] == {"lr": 0.1}
    assert sum(t["selected"] for t in record["trials"]) == 1 and record["test_rows"] == 0
    table = tuning.trials_frame({"tuned": [record]})
    assert list(table.columns) == ["experiment", "dataset", "partition", "algorithm", "trial", "hp.lr", "val_score", "status", "selected"]
    assert table["selected"].sum() == 1


def bad(demo: dict, change) -> str:
    config = copy.deepcopy(demo)
    change(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "change, key, words",
    [
        (lambda c: c["tuning"].update(trials=0), "tuning.trials", "at least 1"),
        (lambda c: c["tuning"].update(trials={"fedavg": 4, "fedprox": 4, "epfl": 8}), "tuning.trials", "unequal budgets"),
        (lambda c: c["tuning"].update(trials={"fedavg": 4, "fedprox": 4}), "tuning.trials", "no budget for ['epfl']"),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"muu": {"scale": "log", "low": 1e-3, "high": 1}}}),
            "tuning.spaces.fedprox.muu",
            "no hyperparameter",
        ),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"mu": {"scale": "log", "low": 1.0, "high": 1.0}}}),
            "tuning.spaces.fedprox.mu",
            "empty or inverted",
        ),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"mu": {"scale": "linear", "low": 1.0, "high": 0.1}}}),
            "tuning.spaces.fedprox.mu",
            "empty or inverted",
        ),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"mu": {"scale": "log", "low": 0.0, "high": 1.0}}}),
            "tuning.spaces.fedprox.mu",
            "positive bounds",
        ),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"mu": {"scale": "linear", "low": -1.0, "high": 1.0}}}),
            "tuning.spaces.fedprox.mu",
            "refuses",
        ),
        (
            lambda c: c["tuning"].update(spaces={"epfl": {"layers": {"scale": "choice", "values": ["all", "top"]}}}),
            "tuning.spaces.epfl.layers",
            "refuses",
        ),
        (lambda c: c["tuning"].update(spaces={"nosuch": {}}), "tuning.spaces.nosuch", "no such algorithm"),
        (lambda c: c["tuning"].update(experiments=["nosuch"]), "tuning.experiments", "not defined"),
        (lambda c: c["tuning"].update(experiments=["layers"]), "experiments.layers", "kind main"),
        (lambda c: c["tuning"]["score"].update(last=5), "tuning.score.last", "has 2"),
        (lambda c: c["variants"].update(tuned={}), "variants.tuned", "reserved"),
    ],
)
def test_bad_tuning_settings_are_one_error_naming_the_key(demo, change, key, words):
    message = bad(demo, change)
    assert message.startswith(key) and words in message


def test_every_methods_budget_may_be_listed_if_equal(demo):
    demo["tuning"]["trials"] = {"fedavg": 4, "fedprox": 4, "epfl": 4}
    config = validate_config(demo)
    assert {tuning.budget(config, a) for a in ("fedavg", "fedprox", "epfl")} == {4}


def test_the_protocol_document_holds_the_declared_search_spaces(repo):
    assert tuning.search_space_markdown() in (repo / "docs" / "protocol.md").read_text()


def test_the_paper_config_tunes_its_main_grid_with_an_equal_reviewer_budget(repo):
    config = load_config(repo / "config" / "config.yaml")
    main, tuned = config["experiments"]["main"], config["experiments"][config["tuning"]["experiments"][0]]
    assert {k: tuned[k] for k in ("datasets", "partitions", "algorithms", "references")} == {
        k: main[k] for k in ("datasets", "partitions", "algorithms", "references")
    }
    assert config["tuning"]["trials"] >= 16 and config["tuning"]["rounds"] < config["training"]["rounds"]
    per_group = pd.Series([(k.dataset, k.partition, k.algorithm) for k in tuning.trial_runs(config)]).value_counts()
    assert per_group.nunique() == 1 and len(per_group) == 9 * 11
    rounds = tuning.planned_rounds(config)  # README's projection: 9 × 11 × 16 trials × 50 rounds
    assert rounds["trial_rounds"] == 9 * 11 * 16 * 50 and rounds["tuned_rounds"] == rounds["default_rounds"] == 9 * 11 * 3 * 200


def test_the_declared_spaces_pass_the_checks_that_need_the_algorithm_classes(repo):
    for name in ("config.yaml", "demo.yaml"):
        tuning.check_spaces(load_config(repo / "config" / name))


def test_a_declaration_naming_no_hyperparameter_or_drawing_a_refused_value_is_an_error(demo, monkeypatch):
    from dataclasses import dataclass

    from fhbench.algorithms.fedavg import FedAvg
    from fhbench.search_space import linear_range

    @dataclass
    class Plugin(FedAvg):
        name = "plugin"
        strength: float = 0.5

        def __post_init__(self):
            if not 0 <= self.strength <= 1:
                raise ValueError(f"strength must lie in [0, 1], got {self.strength}")

    config = validate_config(demo)
    real = tuning.algorithm_class
    monkeypatch.setattr(tuning, "_algorithm_schemas", lambda: {})  # a plugin has no schema entry: its constructor decides
    for space, words in [
        ({"strenght": linear_range(0.0, 1.0, "typo")}, "search_space.strenght: 'strenght' is not a hyperparameter"),
        ({"strength": linear_range(0.0, 2.0, "too wide")}, "draws strength = 2.0, which fedavg refuses (strength must lie in [0, 1]"),
    ]:
        Plugin.search_space = FedAvg.search_space | space
        monkeypatch.setattr(tuning, "algorithm_class", lambda a: Plugin if a == "fedavg" else real(a))
        with pytest.raises(ConfigError, match=re.escape(words)):
            tuning.check_spaces(config)
