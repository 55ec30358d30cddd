"""The ``natural`` split scheme: clients are metadata groups (patients, devices, sites)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fhbench.data.prepared import write_prepared
from fhbench.partition import make_partition, partition_prepared, rank_groups


def grouped_data(seed: int = 0):
    """Five patients of different sizes (p3 largest), labels depending on the patient."""
    rng = np.random.default_rng(seed)
    sizes = {"p1": 30, "p2": 50, "p3": 80, "p4": 50, "p5": 10}
    groups = np.concatenate([[g] * n for g, n in sizes.items()])
    rng.shuffle(groups)
    labels = np.array([int(g[1]) % 3 for g in groups]) ^ (rng.random(len(groups)) < 0.3).astype(int)
    return labels, groups, sizes


def test_rank_groups_largest_first_ties_by_name():
    assert rank_groups(np.array(["b", "a", "c", "c", "b", "a", "d"])) == ["a", "b", "c", "d"]
    assert rank_groups(np.array(["x", "y", "y"])) == ["y", "x"]


def test_every_group_is_a_client_when_n_clients_is_none():
    labels, groups, sizes = grouped_data()
    part = make_partition(labels, "natural", n_clients=None, datapercent=1.0, seed=1, groups=groups)
    assert part.groups == ["p3", "p2", "p4", "p1", "p5"]  # by size, ties (p2, p4) by name
    assert part.params["n_clients"] == 5
    for client, group in zip(part.clients, part.groups):
        members = np.concatenate([client[s] for s in ("train", "val", "test")])
        assert set(groups[members]) == {group}
        assert len(members) == sizes[group]
        # the same per-class 40/30/30 cut as every scheme
        for c in np.unique(labels[members]):
            n_c = int((labels[members] == c).sum())
            assert int((labels[client["train"]] == c).sum()) == int(0.4 * n_c)
            assert int((labels[client["test"]] == c).sum()) == int(0.3 * n_c)


def test_n_largest_groups_and_datapercent():
    labels, groups, _ = grouped_data()
    part = make_partition(labels, "natural", n_clients=2, datapercent=0.5, seed=3, groups=groups)
    chosen = np.random.RandomState(3).choice(len(labels), int(len(labels) * 0.5), replace=False)
    expected = rank_groups(groups[chosen])[:2]
    assert part.groups == expected
    used = np.concatenate([np.concatenate([c[s] for s in ("train", "val", "test")]) for c in part.clients])
    assert set(used) <= set(chosen)
    assert len(used) == int(np.isin(groups[chosen], expected).sum())
    # deterministic from the seed
    again = make_partition(labels, "natural", n_clients=2, datapercent=0.5, seed=3, groups=groups)
    assert again.clients == part.clients


def test_natural_errors_name_the_problem():
    labels, groups, _ = grouped_data()
    with pytest.raises(ValueError, match="needs a group per sample"):
        make_partition(labels, "natural", n_clients=2)
    with pytest.raises(ValueError, match="only 5 groups"):
        make_partition(labels, "natural", n_clients=6, groups=groups)
    with pytest.raises(ValueError, match="needs n_clients"):
        make_partition(labels, "iid", n_clients=None)


def test_partition_prepared_reads_the_metadata_column(tmp_path):
    labels, groups, sizes = grouped_data()
    metadata = pd.DataFrame({"patient": groups, "device": ["d0"] * len(groups)})
    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(tmp_path / "prep", inputs, labels, metadata, {"dataset": "x", "modality": "image"})
    out = tmp_path / "natural.json"
    partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")
    split = json.loads(out.read_text())
    assert split["scheme"] == "natural" and split["params"]["group"] == "patient"
    assert [c["group"] for c in split["clients"]] == ["p3", "p2", "p4", "p1", "p5"]
    assert [sum(len(c[s]) for s in ("train", "val", "test")) for c in split["clients"]] == [80, 50, 50, 30, 10]
    with pytest.raises(ValueError, match="has no column 'site'"):
        partition_prepared(tmp_path / "prep", tmp_path / "bad.json", "natural", None, 0.1, 1.0, 2025, group="site")
    assert not (tmp_path / "bad.json").exists()


def test_cli_natural_split(tmp_path):
    from fhbench.cli import main

    labels, groups, _ = grouped_data()
    np.save(tmp_path / "labels.npy", labels)
    pd.DataFrame({"patient": groups}).to_csv(tmp_path / "metadata.csv", index=False)
    out = tmp_path / "split.json"
    argv = ["partition", "--labels", str(tmp_path / "labels.npy"), "--scheme", "natural", "--n-clients", "3"]
    assert main(argv + ["--metadata", str(tmp_path / "metadata.csv"), "--group", "patient", "--out", str(out)]) == 0
    assert [c["group"] for c in json.loads(out.read_text())["clients"]] == ["p3", "p2", "p4"]
    assert main(argv + ["--out", str(tmp_path / "none.json")]) == 2  # no groups given: a clear error, exit 2
    assert not (tmp_path / "none.json").exists()


def test_natural_takes_every_group_when_asked_for_exactly_that_many():
    """n_clients equal to the number of groups is allowed; a one-sample group is a client named after it."""
    labels, groups, _ = grouped_data()
    part = make_partition(labels, "natural", n_clients=5, groups=groups)
    assert part.groups == ["p3", "p2", "p4", "p1", "p5"]
    labels = np.array([0, 1, 0, 1, 0, 1, 2])
    groups = np.array(["a"] * 6 + ["solo"])
    part = make_partition(labels, "natural", n_clients=2, groups=groups)
    assert part.groups == ["a", "solo"] and part.clients[1] == {"train": [], "val": [6], "test": []}


def test_partition_prepared_reads_group_names_as_written_and_checks_labels(tmp_path):
    """Group values stay text ("007" and "7" differ, "NA" is a name, not missing); labels are checked against
    info.json's class count (classes may be absent) and errors name labels.npy or the metadata columns."""
    labels = np.array([0, 1, 3, 0, 1, 3, 0, 1, 3, 0, 1, 3] * 2)  # class 2 of 4 absent
    groups = ["007"] * 12 + ["7"] * 8 + ["NA"] * 4
    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    metadata = pd.DataFrame({"patient": groups, "device": ["d0"] * len(groups)})
    write_prepared(tmp_path / "prep", inputs, labels, metadata, {"dataset": "x", "modality": "image", "n_classes": 4})
    out = tmp_path / "natural.json"
    partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")
    assert [c["group"] for c in json.loads(out.read_text())["clients"]] == ["007", "7", "NA"]
    with pytest.raises(ValueError, match=r"columns: \['label', 'patient', 'device'\]"):
        partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="site")
    np.save(tmp_path / "prep" / "labels.npy", np.where(labels == 3, 4, labels))  # 4 is not below n_classes = 4
    with pytest.raises(ValueError, match=r"^\S*labels\.npy: "):
        partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")
    (tmp_path / "prep" / "labels.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="file of labels"):
        partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")


def test_partition_prepared_keeps_numeric_looking_group_names_apart(tmp_path):
    """A group column of numbers only is still read as text: patients "007" and "7" are two clients."""
    labels = np.array([0, 1] * 10)
    groups = ["007"] * 12 + ["7"] * 8
    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(tmp_path / "prep", inputs, labels, pd.DataFrame({"patient": groups}), {"dataset": "x", "modality": "image"})
    out = tmp_path / "natural.json"
    partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")
    split = json.loads(out.read_text())
    assert [c["group"] for c in split["clients"]] == ["007", "7"]
    assert [sum(len(c[s]) for s in ("train", "val", "test")) for c in split["clients"]] == [12, 8]


def test_partition_prepared_reads_only_the_group_column(tmp_path):
    """Only the group column is parsed: a free-text note with an unquoted comma (one field too many in that
    row) does not stop a natural split, and a missing column is still named with the header's columns."""
    labels = np.array([0, 1] * 10)
    groups = ["a"] * 12 + ["b"] * 8
    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(
        tmp_path / "prep", inputs, labels, pd.DataFrame({"patient": groups, "note": ["-"] * 20}), {"dataset": "x", "modality": "image"}
    )
    rows = [f"{y},{g},-" for y, g in zip(labels, groups)]
    rows[5] = f"{labels[5]},{groups[5]},left, lower lobe"
    (tmp_path / "prep" / "metadata.csv").write_text("\n".join(["label,patient,note", *rows]) + "\n")
    out = tmp_path / "natural.json"
    partition_prepared(tmp_path / "prep", out, "natural", None, 0.1, 1.0, 2025, group="patient")
    assert [c["group"] for c in json.loads(out.read_text())["clients"]] == ["a", "b"]
    with pytest.raises(ValueError, match=r"has no column 'site' for a natural split; columns: \['label', 'patient', 'note'\]"):
        partition_prepared(tmp_path / "prep", tmp_path / "bad.json", "natural", None, 0.1, 1.0, 2025, group="site")
