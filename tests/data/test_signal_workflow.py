"""The demo DAG builds acquire_data → prepare_data → make_partition for the four signal datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from tests.conftest import REPO, copy_repo

SIGNAL = ("icbhi", "sprsound", "ptbxl", "adftd")


@pytest.mark.slow
def test_demo_dag_builds_signal_partitions(tmp_path):
    work = copy_repo(tmp_path / "repo")
    demo = validate_config(yaml.safe_load((work / "config" / "demo.yaml").read_text()))
    targets = [grid.split_path(demo, d, "fhbench") for d in SIGNAL]
    env = dict(os.environ, PYTHONPATH=str(work / "src"), HF_HUB_OFFLINE="1")
    snakemake = Path(sys.executable).with_name("snakemake")
    run = subprocess.run(
        [str(snakemake), *targets, "--cores", "2", "--configfile", "config/demo.yaml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    for dataset in SIGNAL:
        split = json.loads((work / grid.split_path(demo, dataset, "fhbench")).read_text())
        assert split["scheme"] == "fhbench" and len(split["clients"]) == 20
        assert (work / grid.raw_dir(demo, dataset) / "MANIFEST.json").is_file()
        assert (work / grid.logs_dir(demo) / "prepare_data" / dataset / f"{grid.prep_id(demo, dataset)}.log").is_file()
    # the prepare: options of config/demo.yaml reach Dataset.prepare through the rule
    for dataset in ("icbhi", "sprsound"):
        info = json.loads((work / grid.prepared_dir(demo, dataset) / "info.json").read_text())
        seconds = demo["datasets"][dataset]["prepare"]["clip_seconds"]
        assert info["clip_seconds"] == seconds and info["input_shape"] == [int(16_000 * seconds)]
    dry = subprocess.run(
        [str(snakemake), *targets, "--cores", "1", "--configfile", "config/demo.yaml", "-n"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_unknown_prepare_option_fails_naming_the_key():
    from fhbench.config import validate_config

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["datasets"]["icbhi"]["prepare"] = {"clip_second": 2.0}
    with pytest.raises(ValueError, match=r"datasets\.icbhi\.prepare\.clip_second: .*clip_seconds"):
        validate_config(config)
    config["datasets"]["icbhi"]["prepare"] = {"clip_seconds": 2.0}
    config["datasets"]["ptbxl"]["prepare"] = {"clip_seconds": 2.0}
    with pytest.raises(ValueError, match=r"datasets\.ptbxl\.prepare\.clip_seconds: .*accepts none"):
        validate_config(config)
    del config["datasets"]["ptbxl"]["prepare"]
    assert validate_config(config)["datasets"]["ptbxl"]["prepare"] == {}
