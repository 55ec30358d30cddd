"""The ``fhbench partition`` command as users and the workflow call it."""

import json
import subprocess
import sys

import numpy as np

from fhbench import grid
from fhbench.config import load_config
from fhbench.partition import make_partition
from tests.bounded import CHILD_TIMEOUT_S


def test_partition_command_writes_the_specified_json(tmp_path):
    labels = np.random.default_rng(0).integers(0, 11, 2000)
    np.save(tmp_path / "labels.npy", labels)
    cmd = [
        sys.executable,
        "-m",
        "fhbench.cli",
        "partition",
        "--labels",
        str(tmp_path / "labels.npy"),
        "--scheme",
        "fhbench",
        "--n-clients",
        "20",
        "--alpha",
        "0.1",
        "--datapercent",
        "0.2",
        "--seed",
        "2025",
        "--out",
        str(tmp_path / "split.json"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=CHILD_TIMEOUT_S)
    assert "20 clients" in done.stderr
    split = json.loads((tmp_path / "split.json").read_text())
    expected = make_partition(labels, "fhbench", 20, 0.1, 0.2, 2025)
    assert len(split["clients"]) == 20
    for got, want in zip(split["clients"], expected.clients):
        assert {k: got[k] for k in ("train", "val", "test")} == want
        assert sum(got["class_counts"]["train"]) == len(want["train"])


def test_partition_command_reports_bad_input(tmp_path):
    np.save(tmp_path / "labels.npy", np.zeros(10, dtype=int))
    cmd = [
        sys.executable,
        "-m",
        "fhbench.cli",
        "partition",
        "--labels",
        str(tmp_path / "labels.npy"),
        "--datapercent",
        "2",
        "--out",
        str(tmp_path / "split.json"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 2
    assert "datapercent" in done.stderr
    assert not (tmp_path / "split.json").exists()


def test_data_targets_of_one_dataset(repo):
    """dvc.yaml's stages list one dataset's targets; other datasets in experiments do not break it."""
    cmd = [sys.executable, "-m", "fhbench.cli", "data-targets", "--config", str(repo / "config/demo.yaml"), "--dataset", "ptbxl"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=CHILD_TIMEOUT_S)
    targets = done.stdout.split()
    config = load_config(repo / "config/demo.yaml")
    assert targets == grid.data_targets({**config, "datasets": {"ptbxl": config["datasets"]["ptbxl"]}})
    assert targets[0] == grid.raw_dir(config, "ptbxl") and grid.prepared_dir(config, "ptbxl") in targets
    assert all("ptbxl" in t for t in targets) and grid.split_path(config, "ptbxl", "fhbench") in targets
