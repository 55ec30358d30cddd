"""The quantity-skew scheme and unseen clients held out of a split; their config checks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from fhbench.errors import ConfigError, InputError
from fhbench.partition import check_partition_config, hold_out, make_partition, stratified_client_split

REPO = Path(__file__).resolve().parents[1]
LABELS = np.random.default_rng(0).integers(0, 11, 6000)


def train_sizes(part) -> list[int]:
    return [len(c["train"]) for c in part.clients]


@pytest.mark.parametrize("seed", [0, 1, 2025])
def test_quantity_sizes_meet_the_floor_and_the_ratio(seed):
    part = make_partition(LABELS, "quantity", n_clients=20, seed=seed, sigma=1.0, min_share=0.01, min_ratio=10)
    sizes = [sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients]
    assert sum(sizes) == len(LABELS)  # every working sample placed once
    assert len({i for c in part.clients for s in ("train", "val", "test") for i in c[s]}) == len(LABELS)
    assert min(sizes) >= int(0.01 * len(LABELS))
    train = train_sizes(part)
    assert max(train) >= 10 * min(train)  # issue 28's split: largest ≥ 10× the smallest's training samples
    assert part.params["sigma"] == 1.0 and part.params["min_ratio"] == 10


def test_quantity_is_heavy_tailed_seeded_and_label_iid():
    a = make_partition(LABELS, "quantity", n_clients=20, seed=3, sigma=1.5, min_share=0.005)
    b = make_partition(LABELS, "quantity", n_clients=20, seed=3, sigma=1.5, min_share=0.005)
    c = make_partition(LABELS, "quantity", n_clients=20, seed=4, sigma=1.5, min_share=0.005)
    assert a.clients == b.clients and a.clients != c.clients
    sizes = np.sort([len(x["train"]) for x in a.clients])
    assert sizes[-1] > 3 * np.median(sizes)  # a few large clients, many small ones
    big = max(a.clients, key=lambda x: len(x["train"]))["train"]
    share = np.bincount(LABELS[big], minlength=11) / len(big)
    assert share.max() < 0.2  # no label skew: each of 11 classes near 1/11


def test_sigma_zero_limit_is_near_equal_sizes():
    part = make_partition(LABELS, "quantity", n_clients=10, seed=0, sigma=1e-6, min_share=0.01)
    sizes = [sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients]
    assert max(sizes) - min(sizes) <= 1


def test_unreachable_ratio_is_a_bounded_draw_ending_in_an_error():
    with pytest.raises(InputError, match="min_ratio: no draw of 1000"):
        make_partition(LABELS[:400], "quantity", n_clients=20, seed=0, sigma=0.1, min_share=0.04, min_ratio=20)


def test_quantity_options_belong_to_the_quantity_scheme():
    with pytest.raises(InputError, match="sigma: is not an option of the fhbench scheme"):
        make_partition(LABELS, "fhbench", n_clients=20, sigma=1.0)


def test_unseen_clients_are_drawn_from_the_seed_moved_last_and_marked():
    plain = make_partition(LABELS, "fhbench", n_clients=20, alpha=0.5, seed=7)
    held = make_partition(LABELS, "fhbench", n_clients=20, alpha=0.5, seed=7, unseen=4)
    chosen = hold_out(20, 4, 7)
    assert len(chosen) == 4 and chosen == hold_out(20, 4, 7) and chosen != hold_out(20, 4, 8)
    order = [i for i in range(20) if i not in chosen] + chosen
    assert held.clients == [plain.clients[i] for i in order]  # the same clients, reordered
    entries = held.to_json(LABELS)["clients"]
    assert [bool(e.get("unseen")) for e in entries] == [False] * 16 + [True] * 4
    assert held.params["unseen"] == 4 and "unseen" not in plain.params
    assert "unseen" not in plain.to_json(LABELS)["clients"][0]


def test_unseen_reorders_planted_groups_with_their_clients():
    plain = make_partition(LABELS, "planted", n_clients=8, n_groups=4, seed=1)
    held = make_partition(LABELS, "planted", n_clients=8, n_groups=4, seed=1, unseen=2)
    order = [i for i in range(8) if i not in hold_out(8, 2, 1)] + hold_out(8, 2, 1)
    assert held.planted_groups == [plain.planted_groups[i] for i in order]
    assert held.label_maps == [plain.label_maps[i] for i in order]


def test_every_client_held_out_is_an_error():
    with pytest.raises(InputError, match="unseen: 20 unseen clients of 20 leave none to train"):
        make_partition(LABELS, "iid", n_clients=20, unseen=20)


def test_stratified_cut_of_the_smallest_client_still_trains():
    part = make_partition(LABELS, "quantity", n_clients=20, seed=0, min_share=0.01)
    smallest = min(part.clients, key=lambda c: len(c["train"]))
    assert len(smallest["train"]) > 0
    assert stratified_client_split(np.asarray(smallest["train"]), LABELS)[0]


# --------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(
    "entry, culprit",
    [
        ({"scheme": "fhbench", "n_clients": 20, "unseen": 20}, "partitions.p.unseen: 20 unseen clients of 20"),
        ({"scheme": "fhbench", "n_clients": 5, "unseen": 9}, "partitions.p.unseen"),
        ({"scheme": "quantity", "n_clients": 20, "min_share": 0.06}, "partitions.p.min_share: 20 clients × 0.06"),
        ({"scheme": "quantity", "n_clients": 20, "min_share": 0.04, "min_ratio": 50}, "partitions.p.min_ratio: 50"),
        ({"scheme": "fhbench", "n_clients": 20, "sigma": 1.0}, "partitions.p.sigma: not an option of the fhbench scheme"),
    ],
)
def test_config_check_names_the_key(entry, culprit):
    with pytest.raises(ConfigError, match=culprit.replace(".", r"\.")):
        check_partition_config("p", entry)


def test_config_check_accepts_the_configured_partitions():
    for name in ("config.yaml", "demo.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        for key, entry in config["partitions"].items():
            check_partition_config(key, entry)


def test_partition_params_add_options_only_where_they_apply():
    from fhbench.config import load_config
    from fhbench.grid import partition_params

    config = load_config(REPO / "config" / "demo.yaml")
    plain = partition_params(config, "organamnist", "fhbench")
    assert "unseen" not in plain and "sigma" not in plain
    assert partition_params(config, "organamnist", "unseen4")["unseen"] == 4
    quantity = copy.deepcopy(config)
    quantity["partitions"]["quantity"] = {"scheme": "quantity", "n_clients": 20, "seed": 2025}
    assert {"sigma": 1.0, "min_share": 0.01, "min_ratio": 1.0}.items() <= partition_params(quantity, "organamnist", "quantity").items()
