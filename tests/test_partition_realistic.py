"""The quantity-skew scheme and unseen clients held out of a split; their config checks."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from fhbench.errors import ConfigError, InputError
from fhbench.partition import check_partition_config, hold_out, make_partition, partition_prepared, stratified_client_split

REPO = Path(__file__).resolve().parents[1]
LABELS = np.random.default_rng(0).integers(0, 11, 6000)


def train_sizes(part) -> list[int]:
    return [len(c["train"]) for c in part.clients]


def reference_quantity(labels, n_clients, seed, sigma=1.0, min_share=0.01, min_ratio=1.0):
    """The quantity scheme of the module docstring with plain loops (datapercent 1): a floor of
    int(min_share * m) each, the rest in proportion to LogNormal(0, sigma) weights, rounded down, the
    leftover samples one each to the largest remainders (ties to the earlier client); a uniform
    permutation cut into consecutive clients; redrawn until the training parts (int(0.4 n) per class)
    are all non-empty and the largest is min_ratio x the smallest. Returns each client's sorted indices."""
    rs = np.random.RandomState(seed)
    chosen = rs.choice(len(labels), len(labels), replace=False)
    y = labels[chosen]
    m = len(y)
    floor = int(min_share * m)
    rest = m - floor * n_clients
    while True:
        weights = rs.lognormal(0.0, sigma, n_clients)
        total = weights.sum()
        quota = [rest * weights[i] / total for i in range(n_clients)]
        sizes = [math.floor(q) for q in quota]
        for i in sorted(range(n_clients), key=lambda i: sizes[i] - quota[i])[: rest - sum(sizes)]:
            sizes[i] += 1
        order = rs.permutation(m)
        clients, start = [], 0
        for size in sizes:
            clients.append(order[start : start + floor + size])
            start += floor + size
        train = [sum(int(0.4 * k) for k in Counter(y[c].tolist()).values()) for c in clients]
        if min(train) > 0 and max(train) >= min_ratio * min(train):
            return [sorted(chosen[c].tolist()) for c in clients]


@pytest.mark.parametrize(
    "n_samples,n_clients,seed,options",
    [
        (6000, 20, 7, {"min_ratio": 10}),  # defaults sigma 1 and min_share 0.01; the first draws miss the ratio
        (400, 10, 0, {"min_share": 0.005}),  # floor 2: a draw whose smallest client trains on 1 sample is kept
        (1013, 20, 0, {"sigma": 1e-16}),  # near-equal weights: many remainders tie, the earlier clients get the leftovers
    ],
)
def test_quantity_matches_its_transcription(n_samples, n_clients, seed, options):
    """Each client holds exactly the samples the documented law gives, draw for draw."""
    labels = LABELS[:n_samples]
    part = make_partition(labels, "quantity", n_clients=n_clients, seed=seed, **options)
    expected = reference_quantity(labels, n_clients, seed, **options)
    assert [sorted(i for s in ("train", "val", "test") for i in c[s]) for c in part.clients] == expected


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


def test_quantity_floor_of_one_over_n_clients_gives_equal_clients_and_more_is_refused():
    """min_share = 1/n_clients leaves nothing to share: 4 clients of exactly 25 of 100 samples, each training on
    int(0.4 * 25) = 10 (a ratio of exactly 1 meets min_ratio 1); a floor of 30 each would need 120 samples."""
    labels = np.zeros(100, dtype=np.int64)
    part = make_partition(labels, "quantity", n_clients=4, seed=0, min_share=0.25)
    assert [sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients] == [25] * 4
    assert train_sizes(part) == [10] * 4
    with pytest.raises(InputError, match="^min_share: 4 clients × 30 samples exceed the 100 working samples"):
        make_partition(labels, "quantity", n_clients=4, seed=0, min_share=0.3)


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


def test_holding_out_no_client_holds_out_none():
    """hold_out accepts 0 unseen clients (the bound is 0 <= unseen < n_clients) and returns no client."""
    assert hold_out(5, 0, 7) == []
    assert hold_out(1, 0, 7) == []


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


def test_config_check_without_n_clients_counts_the_default_20():
    """An entry without n_clients is checked as the default 20 clients: 20 unseen leave none, 19 leave one."""
    with pytest.raises(ConfigError, match=r"partitions\.p\.unseen: 20 unseen clients of 20"):
        check_partition_config("p", {"scheme": "fhbench", "unseen": 20})
    check_partition_config("p", {"scheme": "fhbench", "unseen": 19})
    with pytest.raises(ConfigError, match=r"partitions\.p\.min_share: 20 clients × 0\.06"):
        check_partition_config("p", {"scheme": "quantity", "min_share": 0.06})


def test_config_check_bounds_are_inclusive():
    """One client without unseen is a valid split; min_share = 1/n_clients is allowed (equal clients); min_ratio
    may reach its ceiling (1 - (n - 1) min_share) / min_share: 5 clients with 0.125 each allow at most
    (1 - 4 x 0.125) / 0.125 = 4 (one client holds half the data, the others an eighth), and 4.5 is refused."""
    check_partition_config("p", {"scheme": "fhbench", "n_clients": 1})
    check_partition_config("p", {"scheme": "quantity", "n_clients": 4, "min_share": 0.25})
    check_partition_config("p", {"scheme": "quantity", "n_clients": 5, "min_share": 0.125, "min_ratio": 4})
    with pytest.raises(ConfigError, match=r"partitions\.p\.min_ratio: 4\.5"):
        check_partition_config("p", {"scheme": "quantity", "n_clients": 5, "min_share": 0.125, "min_ratio": 4.5})


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


def test_partition_prepared_passes_unseen_and_quantity_options_on(tmp_path, capsys):
    """partition_prepared holds out the unseen clients (last, marked, counted on stderr) and passes the quantity
    options to the scheme: every client holds at least int(0.05 * 600) = 30 samples, and the file records them."""
    import pandas as pd

    from fhbench.data.prepared import write_prepared

    labels = LABELS[:600]
    inputs = np.zeros((len(labels), 2, 2), dtype=np.uint8)
    write_prepared(tmp_path / "prep", inputs, labels, pd.DataFrame({"i": range(len(labels))}), {"dataset": "x", "modality": "image"})
    out = tmp_path / "split.json"
    options = {"sigma": 2.0, "min_share": 0.05, "min_ratio": 2.0}
    partition_prepared(tmp_path / "prep", out, "quantity", 5, 0.1, 1.0, 3, unseen=1, **options)
    data = json.loads(out.read_text())
    assert [bool(c.get("unseen")) for c in data["clients"]] == [False] * 4 + [True]
    assert data["params"]["unseen"] == 1 and options.items() <= data["params"].items()
    sizes = [sum(len(c[s]) for s in ("train", "val", "test")) for c in data["clients"]]
    assert sum(sizes) == 600 and min(sizes) >= 30
    assert (
        capsys.readouterr().err
        == f"{out}: quantity split, 5 clients, 1 of them unseen, 600 samples ({min(sizes)}-{max(sizes)} per client)\n"
    )
