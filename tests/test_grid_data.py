"""Grid functions for data: which (dataset, partition) pairs exist, natural-partition checks."""

from __future__ import annotations

import copy

import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from fhbench.data import DATASETS

NEW_DATASETS = ["organcmnist", "organsmnist", "medabs", "pubmedrct"]


def load(repo, name):
    return yaml.safe_load((repo / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_configs_list_the_datasets_with_paper_values(repo, name):
    config = load(repo, name)
    assert set(NEW_DATASETS) <= set(config["datasets"])
    assert set(config["datasets"]) <= set(DATASETS)
    if name == "config.yaml":  # docs/protocol.md §1 and §4
        expected = {
            "organcmnist": (0.2, 1e-3, 32),
            "organsmnist": (0.2, 1e-3, 32),
            "medabs": (0.5, 8e-3, 16),
            "pubmedrct": (0.005, 5e-3, 16),
        }
        for key, (datapercent, lr, batch) in expected.items():
            ds = config["datasets"][key]
            assert (ds["datapercent"], ds["lr"], ds["batch_size"]) == (datapercent, lr, batch)
        assert config["datasets"]["medabs"]["backbone"] == "roberta_base"
        assert config["backbones"]["roberta_base"] == {
            "architecture": "roberta",
            "hf_id": "FacebookAI/roberta-base",
            "lora": {"rank": 8, "alpha": 16, "dropout": 0.01},
        }


def image_config(repo):
    """demo.yaml restricted to the image datasets (none has a patient column)."""
    from fhbench.data import DATASETS

    config = load(repo, "demo.yaml")
    config["datasets"] = {k: v for k, v in config["datasets"].items() if DATASETS[k].modality == "image"}
    for exp in config["experiments"].values():
        exp["datasets"] = [d for d in exp["datasets"] if d in config["datasets"]]
    # Experiments on signal datasets only (split_balance) go, with their figures.
    config["experiments"] = {n: e for n, e in config["experiments"].items() if e["datasets"]}
    config["figures"] = {n: f for n, f in config.get("figures", {}).items() if f["experiment"] in config["experiments"]}
    tuned = [n for n in config.get("tuning", {}).get("experiments", []) if n in config["experiments"]]
    if tuned:
        config["tuning"]["experiments"] = tuned
    else:  # the tuned experiment ran on signal datasets only
        config.pop("tuning", None)
    return config


def test_data_partitions_and_targets(repo):
    config = image_config(repo)
    config["partitions"]["by_patient"] = {"scheme": "natural", "group": "patient", "n_clients": None}
    validate_config(copy.deepcopy(config))  # unused natural partitions are fine
    pairs = grid.data_partitions(config)
    # Every dataset under the first partition, plus the pairs experiments run; no image dataset
    # has a patient column, so the natural partition applies to none of them.
    used = {(d, p) for exp in config["experiments"].values() for d in exp["datasets"] for p in exp["partitions"]}
    assert set(pairs) == {(d, "fhbench") for d in config["datasets"]} | used
    assert not any(p == "by_patient" for _, p in pairs)
    targets = grid.data_targets(config)
    assert grid.raw_dir(config, "organcmnist") in targets and grid.split_path(config, "organsmnist", "fhbench") in targets
    assert grid.split_path(config, "organsmnist", "fhbench").startswith(
        grid.prepared_dir(config, "organsmnist").replace("prepared", "partitions")
    )
    report = grid.dataset_report_targets(config)
    tables = f"results/{config['name']}/tables"
    assert report[:3] == [f"{tables}/datasets.csv", f"{tables}/datasets.md", f"{tables}/datasets.tex"]
    assert f"results/{config['name']}/figures/split_organamnist_fhbench.png" in report


def test_natural_partition_checks_name_the_key(repo):
    config = image_config(repo)
    config["partitions"]["by_patient"] = {"scheme": "natural", "group": "patient"}
    config["experiments"]["main"]["partitions"] = ["by_patient"]
    with pytest.raises(ValueError, match=r"partitions.by_patient.group: 'patient' is not a natural grouping of organamnist"):
        validate_config(copy.deepcopy(config))
    config["partitions"]["by_patient"] = {"scheme": "natural"}
    with pytest.raises(ValueError, match=r"partitions.by_patient.group: required by the natural scheme"):
        validate_config(copy.deepcopy(config))
    config["partitions"]["by_patient"] = {"scheme": "iid", "n_clients": None}
    with pytest.raises(ValueError, match=r"partitions.by_patient.n_clients: null"):
        validate_config(copy.deepcopy(config))
    assert grid.partition_params(config, "organamnist", "fhbench")["group"] is None
