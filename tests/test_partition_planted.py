"""The planted-structure scheme: known groups, a known relabelling, applied by the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fhbench.partition import SPLITS, apply_label_maps, make_partition, partition_prepared, plant_groups


@pytest.fixture
def labels():
    return np.random.default_rng(0).integers(0, 6, size=600)


def test_every_client_is_in_exactly_one_group(labels):
    part = make_partition(labels, "planted", n_clients=9, n_groups=3, seed=4)
    data = part.to_json(labels)
    groups = [c["planted_group"] for c in data["clients"]]
    assert len(groups) == 9 and all(isinstance(g, int) for g in groups)
    members = {g: [i for i, x in enumerate(groups) if x == g] for g in range(3)}
    assert sorted(i for m in members.values() for i in m) == list(range(9))  # one group each, all covered
    assert all(len(m) == 3 for m in members.values())
    # Clients are disjoint and IID-sized, as the iid scheme.
    used = [i for c in part.clients for s in SPLITS for i in c[s]]
    assert len(used) == len(set(used))


def test_groups_relabel_by_a_known_cyclic_shift():
    groups, maps = plant_groups(n_clients=4, n_groups=2, n_classes=6)
    assert groups == [0, 1, 0, 1]
    assert maps[0] == list(range(6)) and maps[1] == [3, 4, 5, 0, 1, 2]
    # Every group's map is a permutation and groups disagree on every class.
    assert all(sorted(m) == list(range(6)) for m in maps)
    assert all(a != b for a, b in zip(maps[0], maps[1]))


def test_bad_group_counts_name_the_value(labels):
    with pytest.raises(ValueError, match="n_groups"):
        make_partition(labels, "planted", n_clients=4, n_groups=5)
    with pytest.raises(ValueError, match="classes"):
        plant_groups(n_clients=10, n_groups=8, n_classes=6)


def test_label_maps_apply_per_client_and_leave_other_splits_alone(labels, tmp_path):
    part = make_partition(labels, "planted", n_clients=4, n_groups=2, seed=0)
    data = part.to_json(labels)
    seen = apply_label_maps(labels, data)
    for c in data["clients"]:
        idx = [i for s in SPLITS for i in c[s]]
        assert (seen[idx] == np.asarray(c["label_map"])[labels[idx]]).all()
    plain = make_partition(labels, "iid", n_clients=4).to_json(labels)
    assert apply_label_maps(labels, plain) is labels
    shared = json.loads(json.dumps(data))
    shared["clients"][1]["train"].append(shared["clients"][0]["train"][0])
    with pytest.raises(ValueError, match="share samples"):
        apply_label_maps(labels, shared)


def test_partition_prepared_writes_groups(tmp_path, labels):
    import pandas as pd

    from fhbench.data.prepared import write_prepared

    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(tmp_path / "prep", inputs, labels, pd.DataFrame({"i": range(len(labels))}), {"dataset": "x", "modality": "image"})
    out = tmp_path / "split.json"
    partition_prepared(tmp_path / "prep", out, scheme="planted", n_clients=6, alpha=0.1, datapercent=1.0, seed=1, n_groups=3)
    data = json.loads(out.read_text())
    assert [c["planted_group"] for c in data["clients"]] == [0, 1, 2, 0, 1, 2]
    assert data["params"]["n_groups"] == 3


def test_plant_groups_by_hand():
    """Group g shifts class c to (c + g * max(1, C // G)) mod C; G may be 1, n_clients or n_classes."""
    # C = 4, G = 3: step 4 // 3 = 1.
    assert plant_groups(4, 3, 4) == ([0, 1, 2, 0], [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [0, 1, 2, 3]])
    # C = 5, G = 2: step 2 (an integer: maps hold class indices).
    groups, maps = plant_groups(2, 2, 5)
    assert maps == [[0, 1, 2, 3, 4], [2, 3, 4, 0, 1]] and all(type(v) is int for m in maps for v in m)
    assert plant_groups(2, 1, 5) == ([0, 0], [[0, 1, 2, 3, 4]] * 2)  # one group: nobody relabelled
    assert plant_groups(3, 3, 3) == ([0, 1, 2], [[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # G = n_clients = C


def test_planted_defaults_to_two_groups_and_maps_cover_the_classes(labels):
    """Without n_groups, clients alternate between two groups; each map is a permutation of the 6 classes."""
    part = make_partition(labels, "planted", n_clients=4, seed=0)
    assert part.planted_groups == [0, 1, 0, 1] and part.params["n_groups"] == 2
    assert part.label_maps[1] == [3, 4, 5, 0, 1, 2]
    assert all(sorted(m) == list(range(6)) for m in part.label_maps)


def test_apply_label_maps_without_clients_or_samples():
    """A split with no clients key, or a mapped client with no samples, leaves the labels as they are."""
    labels = np.array([0, 1, 2])
    assert apply_label_maps(labels, {}) is labels
    empty = {
        "clients": [
            {"train": [], "val": [], "test": [], "label_map": [1, 2, 0]},
            {"train": [0], "val": [], "test": [2], "label_map": [1, 2, 0]},
        ]
    }
    assert apply_label_maps(labels, empty).tolist() == [1, 1, 0]


def test_partition_prepared_defaults_seed_and_progress_line(tmp_path, labels, capsys):
    """partition_prepared passes its seed on, plants two groups by default and reports the split on stderr."""
    import pandas as pd

    from fhbench.data.prepared import write_prepared

    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(tmp_path / "prep", inputs, labels, pd.DataFrame({"i": range(len(labels))}), {"dataset": "x", "modality": "image"})
    out = tmp_path / "split.json"
    partition_prepared(tmp_path / "prep", out, scheme="planted", n_clients=4, alpha=0.1, datapercent=1.0, seed=3)
    data = json.loads(out.read_text())
    assert data["params"]["seed"] == 3 and data["params"]["n_groups"] == 2
    assert [c["planted_group"] for c in data["clients"]] == [0, 1, 0, 1]
    # iid equal clients from a seeded permutation: seed 3 differs from the default 2025.
    order = np.random.RandomState(3)
    chosen = order.choice(600, 600, replace=False)
    first = sorted(chosen[order.permutation(600)[:150]].tolist())
    assert sorted(i for s in SPLITS for i in data["clients"][0][s]) == first
    assert capsys.readouterr().err == f"{out}: planted split, 4 clients, 600 samples (150-150 per client)\n"
    with pytest.raises(ValueError, match="^split /.*: is an existing directory"):
        partition_prepared(tmp_path / "prep", tmp_path, scheme="iid", n_clients=4, alpha=0.1, datapercent=1.0, seed=3)
