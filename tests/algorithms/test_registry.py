"""Registry, schema and config agree: every algorithm is configurable, with the defaults of docs/protocol.md."""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from fhbench.algorithms import ALGORITHMS, build
from fhbench.config import load_config, validate_config
from fhbench.grid import schema_hyperparameters

REPO = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())
ALG_SCHEMA = SCHEMA["properties"]["algorithms"]["properties"]
PAPER_GRID = ["fedavg", "fedprox", "scaffold", "apfl", "apple", "fedala", "epfl", "local"]


@pytest.mark.parametrize("name", sorted(ALGORITHMS.builtin))
def test_schema_entry_matches_hyperparameters_and_defaults(name):
    entry = ALG_SCHEMA[name]
    assert entry["additionalProperties"] is False
    props = entry.get("properties", {})
    assert sorted(props) == sorted(ALGORITHMS[name].hyperparameters())
    assert schema_hyperparameters()[name] == set(ALGORITHMS[name].hyperparameters())  # what config checks use
    defaults = {f.name: f.default for f in fields(ALGORITHMS[name])}
    for key, spec in props.items():
        assert spec["default"] == defaults[key], f"algorithms.{name}.{key}"


@pytest.mark.parametrize("config_file", ["config.yaml", "demo.yaml"])
def test_configs_define_every_algorithm_and_build_it(config_file):
    config = load_config(REPO / "config" / config_file)
    assert sorted(config["algorithms"]) == sorted(ALGORITHMS.builtin)
    for name, params in config["algorithms"].items():
        assert build(name, **params).name == name
    # Reference algorithms (local, centralized) run as an experiment's reference rows.

    def methods(exp):
        return set(exp["algorithms"]) | set(exp.get("references", []))

    run = {a for exp in config["experiments"].values() for a in methods(exp)}
    assert set(PAPER_GRID) | {"centralized"} <= run  # the demo runs them all on one dataset per modality
    if config_file == "config.yaml":
        assert set(PAPER_GRID) | {"centralized"} <= methods(config["experiments"]["main"])


def test_paper_defaults_in_config():
    config = load_config(REPO / "config" / "config.yaml")["algorithms"]
    assert config["fedprox"]["mu"] == 1e-3
    assert config["scaffold"]["server_lr"] == 1.0
    assert config["apfl"]["alpha_init"] == 1.0
    assert config["fedala"]["eta"] == 1.0
    assert config["epfl"]["self_weight"] == 0.5 and config["epfl"]["share"] == "A"


@pytest.mark.parametrize(
    "name, key, value",
    [
        ("fedprox", "mu", -1.0),
        ("scaffold", "server_lr", 0),
        ("apfl", "alpha_init", 2.0),
        ("fedala", "layers", 0),
        ("ffa_lora", "share_head", "yes"),
        ("apple", "unknown", 1.0),
        ("local", "mu", 1.0),
    ],
)
def test_bad_hyperparameter_fails_naming_the_key(name, key, value):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["algorithms"][name] = {**config["algorithms"][name], key: value}
    with pytest.raises(ValueError, match=f"algorithms.{name}"):
        validate_config(config)


def test_unknown_hyperparameter_at_build_names_it():
    with pytest.raises(TypeError, match="algorithms.fedprox: unknown hyperparameter"):
        build("fedprox", mu=0.1, nu=2)


def test_hyperparameters_are_the_dataclass_fields():
    from fhbench.algorithms.base import Algorithm

    assert ALGORITHMS["epfl"].hyperparameters() == ["self_weight", "layers", "weights", "share"]

    class Plain(Algorithm):  # not a dataclass: no hyperparameters (fields() would raise)
        pass

    assert Plain.hyperparameters() == []
