"""Search spaces: each algorithm declares one next to its hyperparameters; values map from the unit cube."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from fhbench.algorithms import ALGORITHMS
from fhbench.errors import ConfigError
from fhbench.search_space import LR, Dimension, choice, from_config, linear_range, log_range


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_algorithm_declares_lr_and_only_its_own_hyperparameters_with_reasons(name):
    cls = ALGORITHMS[name]
    space = cls.search_space
    assert LR in space
    assert set(space) <= {LR, *cls.hyperparameters()}
    for key, dim in space.items():
        dim.check(f"{name}.{key}")
        assert len(dim.reason) > 20, f"{name}.{key} needs a one-line reason"


def test_the_methods_named_by_the_issue_tune_their_own_hyperparameters():
    own = {name: set(ALGORITHMS[name].search_space) - {LR} for name in ALGORITHMS}
    assert own["fedprox"] == {"mu"} and own["scaffold"] == {"server_lr"} and own["apfl"] == {"alpha_init"}
    assert own["apple"] == {"p_lr", "mu"} and own["fedala"] >= {"eta"} and own["epfl"] == {"self_weight", "layers"}


def test_a_plugin_without_a_declaration_is_tuned_over_lr_alone():
    from fhbench.algorithms.fedavg import FedAvg

    @dataclass
    class Plugin(FedAvg):
        name = "plugin"
        strength: float = 1.0

    assert set(Plugin.search_space) == {LR}


def test_values_cover_the_range_on_its_scale():
    log = log_range(1e-4, 1.0, "r")
    assert (
        log.value(0.0) == pytest.approx(1e-4) and log.value(0.5) == pytest.approx(1e-2) and log.value(1.0) == pytest.approx(1.0, rel=1e-3)
    )
    linear = linear_range(0.1, 0.9, "r")
    assert linear.value(0.5) == pytest.approx(0.5)
    integer = linear_range(1, 3, "r", integer=True)
    assert [integer.value(u) for u in (0.0, 0.34, 0.67, 0.9999)] == [1, 2, 3, 3]
    options = choice(("a", "b", "c"), "r")
    assert [options.value(u) for u in (0.0, 0.4, 0.99)] == ["a", "b", "c"]
    relative = log_range(0.1, 10.0, "r", relative=True)
    assert relative.value(0.5, configured=0.05) == pytest.approx(0.05)
    assert relative.value(0.0, configured=0.05) == pytest.approx(0.005)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"scale": "log", "low": 1.0, "high": 1.0}, "empty or inverted"),
        ({"scale": "linear", "low": 0.9, "high": 0.1}, "empty or inverted"),
        ({"scale": "log", "low": 0.0, "high": 1.0}, "log scale needs positive bounds"),
        ({"scale": "log", "low": -1.0, "high": 1.0}, "log scale needs positive bounds"),
        ({"scale": "choice", "values": []}, "no values"),
        ({"scale": "linear", "low": math.nan, "high": 1.0}, "not a finite number"),
        ({"scale": "log", "low": 1, "high": 4, "integer": True}, "needs a linear scale"),
    ],
)
def test_a_bad_range_is_one_error_naming_the_key(entry, message):
    with pytest.raises(ConfigError) as error:
        from_config("tuning.spaces.fedprox.mu", entry)
    text = str(error.value)
    assert text.startswith("tuning.spaces.fedprox.mu") and message in text and "\n" not in text


def test_dimensions_are_data():
    assert Dimension("log", 1e-3, 1.0, reason="r") == log_range(1e-3, 1.0, "r")
    assert from_config("x", log_range(1e-3, 1.0, "r").as_config()) == log_range(1e-3, 1.0, "r")
