"""Config validation: a bad value stops at once, naming the key."""

import copy
import subprocess
import sys

import pytest
import yaml

from fhbench.config import load_config, validate_config
from fhbench.grid import all_runs
from tests.conftest import REPO


@pytest.fixture(params=["config.yaml", "demo.yaml"])
def config(request):
    return yaml.safe_load((REPO / "config" / request.param).read_text())


def test_shipped_configs_validate(config):
    """Both shipped configs pass, keep every value they set, and gain exactly the schema's defaults;
    the result also passes jsonschema's own validator against the schema file, read here apart."""
    import jsonschema

    schema = yaml.safe_load((REPO / "src" / "fhbench" / "schemas" / "config.schema.yaml").read_text())
    written = copy.deepcopy(config)
    validated = validate_config(config)
    jsonschema.validate(validated, schema)

    def check(given, got, props, where):
        for key, value in given.items():  # what the file sets is kept as set
            if isinstance(value, dict):
                check(value, got[key], props.get(key, {}).get("properties", {}), f"{where}{key}.")
            else:
                assert got[key] == value, f"{where}{key} changed by validation"
        for key, sub in props.items():  # what it leaves out is the schema's default
            if key not in given and "default" in sub:
                assert got[key] == sub["default"], f"{where}{key} is not the schema default"

    check(written, validated, schema["properties"], "")
    assert validated["training"]["eval_every"] == written["training"].get("eval_every", 5)


@pytest.mark.parametrize(
    "path,value,key",
    [
        (("training", "rounds"), 0, "training.rounds"),
        (("training", "device"), "gpu", "training.device"),
        (("datasets", "organamnist", "lr"), -1, "datasets.organamnist.lr"),
        (("partitions", "fhbench", "scheme"), "random", "partitions.fhbench.scheme"),
        (("algorithms", "epfl", "layers"), "middle", "algorithms.epfl.layers"),
    ],
)
def test_bad_value_names_its_key(config, path, value, key):
    bad = copy.deepcopy(config)
    node = bad
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate_config(bad)


def test_dangling_reference_names_its_key(config):
    bad = copy.deepcopy(config)
    bad["experiments"]["main"]["algorithms"].append("fedsgd")
    with pytest.raises(ValueError, match=r"experiments\.main\.algorithms: 'fedsgd'"):
        validate_config(bad)


def test_defaults_are_filled(tmp_path):
    minimal = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    del minimal["training"]["eval_every"]
    minimal.pop("tuning", None)  # its trials' score needs the demo's eval_every of 2 (tuning.score.last)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(minimal))
    assert load_config(path)["training"]["eval_every"] == 5


def test_paper_grid_has_every_seed_algorithm_and_dataset():
    config = load_config(REPO / "config" / "config.yaml")
    runs = all_runs(config)
    main = config["experiments"]["main"]
    assert {r.seed for r in runs} == set(config["seeds"]) == {0, 1, 2}
    assert {r.algorithm for r in runs} >= set(main["algorithms"])
    assert (
        len([r for r in runs if r.variant == "default" and r.partition == "fhbench"]) >= len(main["datasets"]) * len(main["algorithms"]) * 3
    )


def test_snakemake_stops_on_a_bad_value_naming_the_key(tmp_path):
    bad = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    bad["training"]["rounds"] = "many"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path), "--", "all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "rounds" in done.stdout + done.stderr
    assert "'many' is not of type 'integer'" in done.stdout + done.stderr
