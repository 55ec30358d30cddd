"""Bad realistic-federation settings: one error line naming the key, exit status 2, nothing planned.

Each case edits the demo config and asks ``fhbench data-targets`` (the config check every command
and the workflow run first); one case goes through a real ``snakemake -n``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhbench.cli import main
from tests.conftest import REPO, copy_repo


def _variant(training: dict):
    def change(config):
        config["variants"]["part20"] = {"training": training}

    return change


def _partition(**entry):
    def change(config):
        config["partitions"]["unseen4"] = {"scheme": "fhbench", "n_clients": 20, "seed": 2025, **entry}

    return change


def _quantity(**entry):
    def change(config):
        config["partitions"]["quantity"] = {"scheme": "quantity", "n_clients": 20, "seed": 2025, **entry}

    return change


def _training(participation):
    def change(config):
        config["training"]["participation"] = participation

    return change


CASES = {
    "fraction-zero": (_training({"fraction": 0}), "training.participation.fraction"),
    "fraction-above-one": (_training({"fraction": 1.5}), "training.participation.fraction"),
    "variant-fraction-above-one": (_variant({"participation": {"fraction": 1.2}}), "variants.part20.training.participation.fraction"),
    "count-above-clients": (_variant({"participation": {"count": 21}}), "variants.part20.training.participation.count: 21"),
    "dropout-one": (_variant({"participation": {"fraction": 0.2, "dropout": 1.0}}), "variants.part20.training.participation.dropout"),
    "fraction-and-count": (_training({"fraction": 0.5, "count": 2}), "training.participation: give fraction or count"),
    "all-clients-unseen": (_partition(unseen=20), "partitions.unseen4.unseen: 20 unseen clients of 20"),
    "more-unseen-than-clients": (_partition(unseen=25), "partitions.unseen4.unseen: 25"),
    "unmeetable-quantity-minimum": (_quantity(min_share=0.2), "partitions.quantity.min_share"),
    "unmeetable-quantity-ratio": (_quantity(min_share=0.04, min_ratio=100), "partitions.quantity.min_ratio"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_setting_is_one_line_naming_the_key(capsys, tmp_path, name):
    change, culprit = CASES[name]
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    capsys.readouterr()
    assert main(["data-targets", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fhbench: error: ") and "Traceback" not in err, err
    assert culprit in lines[0], lines[0]


def test_count_counts_only_the_training_clients(capsys, tmp_path):
    """A count the partition has clients for, but not once its unseen clients are held out."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["variants"]["part20"] = {"training": {"participation": {"count": 18}}}
    config["experiments"]["unseen_clients"]["variants"] = ["part20"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["data-targets", "--config", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert "variants.part20.training.participation.count: 18" in line and "trains only 16 (4 of its 20 are unseen)" in line


@pytest.mark.slow
def test_snakemake_plans_nothing(tmp_path):
    workdir = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((workdir / "config" / "demo.yaml").read_text())
    CASES["count-above-clients"][0](config)
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"), HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "all", "--configfile", "config/bad.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "variants.part20.training.participation.count: 21" in out
    assert "Job stats" not in out and "rule run_federation" not in out  # nothing planned
    assert not (workdir / "results").exists() and not Path(workdir / "logs").exists()
