"""Where results and data live (fhbench.grid): results under the config's name, data under ids
of what it is made from, so different data never shares a path and identical data is shared."""

from __future__ import annotations

import copy
import re

import pytest

from fhbench import grid
from fhbench.config import load_config, retype_overrides, validate_config
from tests.conftest import REPO


@pytest.fixture(scope="module")
def paper(repo):
    return load_config(repo / "config" / "config.yaml")


@pytest.fixture(scope="module")
def demo(repo):
    return load_config(repo / "config" / "demo.yaml")


def changed(config, edit):
    out = copy.deepcopy(config)
    edit(out)
    return validate_config(out)


def test_results_logs_and_checkpoints_live_under_the_config_name(paper, demo):
    for config in (paper, demo):
        name = config["name"]
        key = grid.all_runs(config)[0]
        assert key.name == name
        assert key.metrics.startswith(f"results/{name}/runs/") and key.info == f"{key.directory}/run.json"
        assert key.checkpoints.startswith(f"results/{name}/checkpoints/")
        assert key.log.startswith(f"logs/{name}/run_federation/") and key.benchmark.startswith(f"results/{name}/benchmarks/")
        produced = grid.final_targets(config) + grid.dataset_report_targets(config)
        assert all(t.startswith(f"results/{name}/") for t in produced)
        assert grid.report_path(config) == f"results/{name}/REPORT.md"
        paths = grid.wildcard_paths(config)
        assert paths["run"] == f"results/{name}/runs/{{dataset}}/{{partition}}/{{algorithm}}/{{variant}}/seed{{seed}}"
        assert paths["run_log"].startswith(f"logs/{name}/")
    assert paper["name"] == "paper" and demo["name"] == "demo"


def test_demo_and_paper_share_no_data_or_model_path(paper, demo):
    def data(config):
        return set(grid.data_targets(config)) | {grid.model_dir(config, b) for b in config["backbones"]}

    assert not data(paper) & data(demo)
    assert grid.raw_dir(demo, "icbhi").startswith("resources/raw/icbhi/demo-")
    assert re.fullmatch(r"resources/raw/icbhi/remote-[0-9a-f]{10}", grid.raw_dir(paper, "icbhi"))
    assert re.fullmatch(grid.DATA_ID, grid.split_id(paper, "icbhi", "patients"))


def test_every_origin_setting_changes_the_raw_path_and_everything_made_from_it(paper, demo):
    base = (grid.raw_dir(paper, "icbhi"), grid.prepared_dir(paper, "icbhi"), grid.split_path(paper, "icbhi", "fhbench"))
    mirror = changed(paper, lambda c: c["datasets"]["icbhi"].update(base_url="http://mirror.example/icbhi"))
    demo_twin = changed(demo, lambda c: c["datasets"]["icbhi"]["demo"].update(n_patients=21))
    for config in (mirror,):
        new = (grid.raw_dir(config, "icbhi"), grid.prepared_dir(config, "icbhi"), grid.split_path(config, "icbhi", "fhbench"))
        assert not set(new) & set(base)
    assert grid.raw_dir(demo_twin, "icbhi") != grid.raw_dir(demo, "icbhi")
    assert grid.prepared_dir(demo_twin, "icbhi") != grid.prepared_dir(demo, "icbhi")
    # Other datasets are untouched.
    assert grid.prepared_dir(mirror, "ptbxl") == grid.prepared_dir(paper, "ptbxl")


def test_a_preparation_option_keeps_the_raw_data_and_changes_the_rest(paper):
    clip = changed(paper, lambda c: c["datasets"]["icbhi"]["prepare"].update(clip_seconds=4.0))
    assert grid.raw_dir(clip, "icbhi") == grid.raw_dir(paper, "icbhi")
    assert grid.prepared_dir(clip, "icbhi") != grid.prepared_dir(paper, "icbhi")
    assert grid.split_path(clip, "icbhi", "fhbench") != grid.split_path(paper, "icbhi", "fhbench")


def test_credentials_in_a_mirror_url_are_refused_and_never_reach_a_path(paper):
    """The config refuses them (fhbench.config.check_values); paths strip them all the same."""
    with pytest.raises(grid.ConfigError, match=r"datasets\.ptbxl\.base_url: .*holds credentials"):
        changed(paper, lambda c: c["datasets"]["ptbxl"].update(base_url="https://me:s3cret@mirror.example/ptb"))
    secret = copy.deepcopy(paper)
    secret["datasets"]["ptbxl"].update(source="remote", base_url="https://me:s3cret@mirror.example/ptb")
    assert "s3cret" not in grid.raw_dir(secret, "ptbxl") and "s3cret" not in str(grid.origin_spec(secret, "ptbxl"))
    assert grid.strip_credentials("https://me:pw@host/x?y=1") == "https://host/x?y=1"
    assert grid.strip_credentials(None) is None


def test_identical_data_is_shared_across_configs_and_partition_names(paper):
    ablation = changed(paper, lambda c: c.update(name="my_ablation", seeds=[0]))
    assert grid.data_targets(ablation) == grid.data_targets(paper)
    assert grid.model_dir(ablation, "vit_b16") == grid.model_dir(paper, "vit_b16")
    assert grid.all_runs(ablation)[0].directory.startswith("results/my_ablation/")
    # A split is named by its settings, not by the partition's name in one config.
    renamed = changed(paper, lambda c: c["partitions"].update(the_papers=dict(c["partitions"]["fhbench"])))
    assert grid.split_path(renamed, "organamnist", "the_papers") == grid.split_path(paper, "organamnist", "fhbench")
    other = changed(paper, lambda c: c["partitions"]["fhbench"].update(seed=7))
    assert grid.split_path(other, "organamnist", "fhbench") != grid.split_path(paper, "organamnist", "fhbench")
    # datapercent is part of the split too.
    fewer = changed(paper, lambda c: c["datasets"]["organamnist"].update(datapercent=0.1))
    assert grid.split_path(fewer, "organamnist", "fhbench") != grid.split_path(paper, "organamnist", "fhbench")


def test_ids_map_back_to_the_settings(paper, demo):
    split = grid.split_id(paper, "adftd", "subjects")
    assert grid.find_by_id(paper, "split", split, dataset="adftd") == "subjects"
    assert grid.find_by_id(demo, "model", grid.model_id(demo, "moment_tiny")) == "moment_tiny"
    assert grid.model_id(demo, "vit_tiny").startswith("tiny-") and grid.model_id(paper, "vit_b16").startswith("hub-")
    with pytest.raises(grid.ConfigError, match="no model of this config has id 'hub-0000000000'"):
        grid.find_by_id(paper, "model", "hub-0000000000")
    grid.check_data_id(paper, "adftd", "prep", grid.prep_id(paper, "adftd"))
    with pytest.raises(grid.ConfigError, match=r"datasets.adftd: origin id 'demo-0000000000' is not this config's"):
        grid.check_data_id(paper, "adftd", "origin", "demo-0000000000")


def test_restored_data_is_a_folder_without_the_snakemake_marker(tmp_path):
    made, restored = tmp_path / "made", tmp_path / "restored"
    for folder in (made, restored):
        folder.mkdir()
        (folder / "labels.npy").write_bytes(b"x")
    (made / grid.SNAKEMAKE_TIMESTAMP).write_text("")
    assert grid.restored_data(restored) and not grid.restored_data(made)
    assert not grid.restored_data(tmp_path / "missing") and not grid.restored_data(made / "labels.npy")
    assert grid.SNAKEMAKE_TIMESTAMP in (REPO / ".dvcignore").read_text().split()  # DVC never restores it


def test_ids_are_stable(paper):
    # Data paths must not move between releases or Python sessions: key order, dict identity
    # and the process's hash seed play no part (a change here moves everyone's data: bump with care).
    assert grid.short_hash({"a": 1, "b": [1, 2]}) == grid.short_hash({"b": [1, 2], "a": 1}) == "8baa731984"
    assert grid.origin_id(paper, "organamnist") == "remote-0c70add469"


def test_demo_flag(paper, demo):
    assert grid.is_demo(demo) and not grid.is_demo(paper)
    # A real source is never pretrained here (fhbench.grid.check_pretrain): the twin's pretrain goes too.
    mixed = changed(demo, lambda c: c["datasets"]["icbhi"].update(source="remote") or c["datasets"]["icbhi"].pop("pretrain"))
    assert not grid.is_demo(mixed)
    assert grid.is_demo(changed(mixed, lambda c: c["report"].update(demo=True)))


def test_every_rule_has_memory_and_runtime(paper, demo):
    for rule in grid.RULE_RESOURCES:
        assert grid.rule_resources(paper, rule)["mem_mb"] >= 1000
    assert grid.rule_resources(paper, "run_federation") == {"mem_mb": 32000, "runtime": 720}
    tuned = changed(paper, lambda c: c["resources"].update(prepare_data={"mem_mb": 16000}))
    assert grid.rule_resources(tuned, "prepare_data") == {"mem_mb": 16000, "runtime": grid.RULE_RESOURCES["prepare_data"]["runtime"]}
    with pytest.raises(ValueError, match="resources"):
        changed(paper, lambda c: c["resources"].update(no_such_rule={"mem_mb": 1000}))


def test_name_must_be_a_safe_folder_name(paper):
    for bad in ("../elsewhere", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="config key name"):
            changed(paper, lambda c, bad=bad: c.update(name=bad))
    missing = copy.deepcopy(paper)
    del missing["name"]
    with pytest.raises(ValueError, match="'name' is a required property"):
        validate_config(missing)


def test_config_overrides_get_their_yaml_types():
    # What Snakemake hands over for --config seeds=[0] 'training={rounds: 5}' name=x
    config = {"seeds": [0, 1, 2], "training": {"rounds": 200, "device": "auto"}, "name": "x"}
    overrides = {"seeds": ["0"], "training": {"rounds": "5", "device": "cpu"}, "name": "x"}
    for key, value in overrides.items():
        config[key] = grid.deep_merge(config[key], value) if isinstance(value, dict) else value
    retype_overrides(config, overrides)
    assert config == {"seeds": [0], "training": {"rounds": 5, "device": "cpu"}, "name": "x"}
