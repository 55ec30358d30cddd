"""Plugins: entries other distributions declare under fhbench's entry-point groups.

Each test installs a small distribution the way pip leaves one on disk (a module beside a
``*.dist-info`` folder with METADATA and entry_points.txt) into a folder on ``sys.path``, so
importlib.metadata finds it exactly as it finds a pip-installed one. The real installs of the
worked examples (pip, then Snakemake) are in tests/test_extending.py.
"""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from fhbench.algorithms import ALGORITHMS
from fhbench.cli import main
from fhbench.config import validate_config
from fhbench.data import DATASETS
from fhbench.errors import PREFIX, ConfigError
from fhbench.models import BACKBONES
from fhbench.plugins import PluginError
from tests.bounded import CHILD_TIMEOUT_S

REPO = Path(__file__).resolve().parents[1]

# A plugin algorithm declared as docs/extending.md shows: hyperparameters are dataclass fields.
SHRINK = '''
from dataclasses import dataclass
from typing import Literal

from fhbench.algorithms.fedavg import FedAvg


@dataclass
class ShrinkAvg(FedAvg):
    """FedAvg whose average is pulled toward zero (a toy)."""

    name = "shrinkavg"
    factor: float = 0.5
    rounds_off: int | None = None
    mode: Literal["all", "lora"] = "all"
'''


def write_distribution(root: Path, dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> Path:
    """A distribution as pip installs it into ``root``: its modules and ``<dist>-0.1.dist-info``."""
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for group, entries in entry_points.items():
        lines += [f"[{group}]"] + [f"{name} = {value}" for name, value in entries.items()] + [""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return root


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Factory: ``install(dist, entry_points, modules)`` puts a distribution on sys.path and makes
    the registries look again; everything is undone after the test."""
    registries = (ALGORITHMS, DATASETS, BACKBONES)
    saved = [(r._plugins, dict(r._loaded)) for r in registries]
    added_modules: list[str] = []

    def installer(dist: str, entry_points: dict, modules: dict) -> Path:
        root = tmp_path / dist
        root.mkdir()
        write_distribution(root, dist, entry_points, modules)
        monkeypatch.syspath_prepend(str(root))
        importlib.invalidate_caches()
        added_modules.extend(modules)
        for registry in registries:
            registry._plugins = None
        return root

    yield installer
    for registry, (plugins, loaded) in zip(registries, saved):
        registry._plugins, registry._loaded = plugins, loaded
    for name in added_modules:
        sys.modules.pop(name, None)
    from fhbench.algorithm_schema import _parse

    _parse.cache_clear()


def demo_config() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))


def test_a_plugin_algorithm_joins_the_registry_with_its_distribution(install):
    install("fhbench-shrink", {"fhbench.algorithms": {"shrinkavg": "shrink_plugin:ShrinkAvg"}}, {"shrink_plugin": SHRINK})
    assert "shrinkavg" in ALGORITHMS and list(ALGORITHMS)[-1] == "shrinkavg" and len(ALGORITHMS) == 12
    assert ALGORITHMS.origin("shrinkavg") == "fhbench-shrink 0.1" and ALGORITHMS.origin("fedavg") == "built-in"
    assert ALGORITHMS.spec("shrinkavg") == "shrink_plugin:ShrinkAvg" and "shrinkavg" not in ALGORITHMS.builtin
    cls = ALGORITHMS["shrinkavg"]
    assert cls.__name__ == "ShrinkAvg" and cls.hyperparameters() == ["factor", "rounds_off", "mode"]


def test_listing_and_checking_a_plugin_imports_neither_it_nor_torch(install):
    root = install("fhbench-shrink", {"fhbench.algorithms": {"shrinkavg": "shrink_plugin:ShrinkAvg"}}, {"shrink_plugin": SHRINK})
    code = (
        "import sys, yaml\n"
        "from fhbench.cli import main\n"
        "from fhbench.config import validate_config\n"
        f"config = yaml.safe_load(open({str(REPO / 'config' / 'demo.yaml')!r}))\n"
        "config['algorithms']['shrinkavg'] = {'factor': 0.25}\n"
        "config['experiments']['main']['algorithms'].append('shrinkavg')\n"
        "validate_config(config)\n"
        "assert config['algorithms']['shrinkavg'] == {'factor': 0.25, 'rounds_off': None, 'mode': 'all'}\n"
        "main(['list'])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'shrink_plugin', 'wfdb', 'mne') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": ""}, timeout=CHILD_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    listed = next(line.split() for line in done.stdout.splitlines() if line.strip().startswith("shrinkavg"))
    assert listed == ["shrinkavg", "fhbench-shrink", "0.1", "factor=0.5", "rounds_off=null", "mode=all"]


def test_a_plugin_algorithm_is_validated_like_a_built_in(install):
    install("fhbench-shrink", {"fhbench.algorithms": {"shrinkavg": "shrink_plugin:ShrinkAvg"}}, {"shrink_plugin": SHRINK})
    config = demo_config()
    config["algorithms"]["shrinkavg"] = {"factor": 0.25, "mode": "lora"}
    config["experiments"]["main"]["algorithms"].append("shrinkavg")
    assert validate_config(copy.deepcopy(config))["algorithms"]["shrinkavg"] == {"factor": 0.25, "rounds_off": None, "mode": "lora"}
    for params, key in [
        ({"factr": 0.25}, "algorithms.shrinkavg.factr"),  # a misspelt key is named
        ({"factor": "big"}, "algorithms.shrinkavg.factor"),
        ({"rounds_off": 1.5}, "algorithms.shrinkavg.rounds_off"),
        ({"mode": "head"}, "algorithms.shrinkavg.mode"),
    ]:
        bad = copy.deepcopy(config)
        bad["algorithms"]["shrinkavg"] = params
        with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ":"):
            validate_config(bad)
    # A variant's overrides are checked against the plugin's hyperparameters too.
    bad = copy.deepcopy(config)
    bad["variants"]["half"] = {"algorithm": {"factor": "half"}}
    bad["experiments"]["main"]["variants"] = ["default", "half"]
    bad["experiments"]["main"]["algorithms"] = ["shrinkavg"]
    with pytest.raises(ConfigError, match=r"variants\.half\.algorithm\.factor"):
        validate_config(bad)


def test_an_unknown_algorithm_name_is_refused_naming_it():
    config = demo_config()
    config["algorithms"]["fedaavg"] = {}
    with pytest.raises(ConfigError, match=r"algorithms\.fedaavg: no such algorithm"):
        validate_config(config)


def test_fields_the_source_does_not_declare_plainly_are_read_from_the_class(install):
    computed = SHRINK.replace("factor: float = 0.5", "factor: float = 1 / 4").replace(
        "rounds_off: int | None = None", "rounds_off: Rounds = 3"
    )
    computed = computed.replace("from typing import Literal", "from typing import Literal\n\nRounds = int")
    install("fhbench-computed", {"fhbench.algorithms": {"shrinkavg": "computed_plugin:ShrinkAvg"}}, {"computed_plugin": computed})
    from fhbench.algorithm_schema import plugin_schema

    assert plugin_schema("shrinkavg")["properties"] == {
        "factor": {"type": "number", "default": 0.25},
        "rounds_off": {"type": "integer", "default": 3},
        "mode": {"enum": ["all", "lora"], "default": "all"},
    }


def test_every_built_in_is_read_from_source_as_its_schema_entry_and_class_say():
    from fhbench.algorithm_schema import builtin_schemas, imported_fields, source_fields, type_schema

    for name, entry in builtin_schemas().items():
        fields = source_fields(ALGORITHMS.spec(name))
        assert fields == imported_fields(ALGORITHMS[name]), name
        assert list(fields) == list(entry.get("properties", {})), name
        for key, (annotation, default) in fields.items():
            spec = entry["properties"][key]
            assert default == spec["default"], f"{name}.{key}"
            derived = type_schema(annotation)["type"]
            assert spec.get("type", "string") == derived, f"{name}.{key}: schema {spec}, field {derived}"


@pytest.mark.parametrize(
    "entry_points, message",
    [
        ({"fhbench.algorithms": {"fedavg": "shrink_plugin:ShrinkAvg"}}, "'fedavg' is the name of a built-in entry"),
        ({"fhbench.datasets": {"ptbxl": "shrink_plugin:ShrinkAvg"}}, "'ptbxl' is the name of a built-in entry"),
        ({"fhbench.backbones": {"Vit2": "shrink_plugin:ShrinkAvg"}}, "'Vit2' is not a valid name"),
        ({"fhbench.algorithms": {"shrinkavg": "shrink_plugin.ShrinkAvg"}}, "is not of the form module:attribute"),
    ],
)
def test_a_bad_entry_is_one_line_naming_distribution_and_entry(install, capsys, entry_points, message):
    install("fhbench-clash", entry_points, {"shrink_plugin": SHRINK})
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(PREFIX + "fhbench-clash 0.1: entry point ")
    assert message in err and "(fhbench." in err
    if "fedavg" in entry_points.get("fhbench.algorithms", {}):  # the line docs/extending.md shows
        assert err.strip() in (REPO / "docs" / "extending.md").read_text()


def test_two_distributions_declaring_one_name_are_refused(install):
    install("fhbench-one", {"fhbench.algorithms": {"shrinkavg": "shrink_plugin:ShrinkAvg"}}, {"shrink_plugin": SHRINK})
    install("fhbench-two", {"fhbench.algorithms": {"shrinkavg": "shrink_two:ShrinkAvg"}}, {"shrink_two": SHRINK})
    with pytest.raises(PluginError, match="declares 'shrinkavg' too; uninstall one of the two"):
        list(ALGORITHMS)


@pytest.mark.parametrize(
    "module, message",
    [
        ("import no_such_dependency\n", "cannot be imported (ModuleNotFoundError: No module named 'no_such_dependency')"),
        ("ShrinkAvg = 3\n", "is int 3, not a fhbench.algorithms.base.Algorithm"),
        (SHRINK.replace('name = "shrinkavg"', 'name = "shrink"'), "its name is 'shrink', not the entry's name 'shrinkavg'"),
    ],
)
def test_a_plugin_that_cannot_be_used_fails_on_use_naming_it(install, capsys, module, message):
    install("fhbench-broken", {"fhbench.algorithms": {"shrinkavg": "broken_plugin:ShrinkAvg"}}, {"broken_plugin": module})
    assert "shrinkavg" in ALGORITHMS  # listed: only using it imports it
    assert main(["list"]) == 0  # and listing shows it, with what is wrong where its fields cannot be read
    listed = " ".join(capsys.readouterr().out.split())
    assert "shrinkavg fhbench-broken 0.1 " + ("(unusable: " if "ShrinkAvg(FedAvg)" not in module else "factor=0.5") in listed
    with pytest.raises(PluginError) as error:
        ALGORITHMS["shrinkavg"]
    line = str(error.value)
    assert line.startswith("fhbench-broken 0.1: entry point shrinkavg = broken_plugin:ShrinkAvg (fhbench.algorithms): ")
    assert message in line and "\n" not in line


def test_plugin_datasets_and_backbones_are_checked_on_use(install):
    module = """
    from fhbench.data.organamnist import DATASET as ORGAN
    from fhbench.models.vit import ViTBackbone

    class Other(ViTBackbone):
        architecture = "other_vit"

    DATASET = ORGAN
    """
    install(
        "fhbench-more",
        {"fhbench.datasets": {"organ_copy": "more_plugin:DATASET"}, "fhbench.backbones": {"other_vit": "more_plugin:Other"}},
        {"more_plugin": module},
    )
    assert DATASETS.origin("organ_copy") == BACKBONES.origin("other_vit") == "fhbench-more 0.1"
    assert BACKBONES["other_vit"].architecture == "other_vit"  # instantiated like the built-ins
    with pytest.raises(PluginError, match="its key is 'organamnist', not the entry's name 'organ_copy'"):
        DATASETS["organ_copy"]
