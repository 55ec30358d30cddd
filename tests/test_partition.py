"""The client splits: the exact ``fhbench`` scheme of docs/protocol.md §2, plus ``dirichlet`` and ``iid``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fhbench.errors import InputError
from fhbench.partition import (
    SCHEMES,
    Partition,
    _finish,
    _label_summary,
    balanced_client_split,
    largest_remainder_counts,
    make_partition,
    scheme_shares_samples,
    stratified_client_split,
)


def reference_fhbench(labels, n_clients, alpha, datapercent, seed, workers=2):
    """docs/protocol.md §2 transcribed step by step with plain Python loops, as an independent check."""
    rs = np.random.RandomState(seed)
    chosen = rs.choice(len(labels), int(len(labels) * datapercent), replace=False)
    y = labels[chosen]
    m = len(y)
    rows = np.array([[k, y[k]] for k in range(m)], dtype=np.int64)
    rs.shuffle(rows)
    k_classes = len(set(y.tolist()))
    n_chunks = math.ceil(n_clients / workers)
    chunk_len = int(workers / n_clients * m)
    concatenated = []
    for ch in range(n_chunks):
        chunk = rows[ch * chunk_len : (ch + 1) * chunk_len] if ch < n_chunks - 1 else rows[ch * chunk_len :]
        size = len(chunk)
        while True:
            held = [[] for _ in range(workers)]
            for c in range(k_classes):
                positions = [int(r[0]) for r in chunk if r[1] == c]
                p = rs.dirichlet([alpha] * workers)
                for w in range(workers):
                    if len(held[w]) >= size / workers:
                        p[w] = 0.0
                if p.sum() == 0:
                    continue
                p = p / p.sum()
                cuts = [0] + list((np.cumsum(p) * len(positions)).astype(int)[:-1]) + [len(positions)]
                for w in range(workers):
                    held[w] += positions[cuts[w] : cuts[w + 1]]
            if min(len(h) for h in held) >= int(0.5 * size / workers):
                break
        for h in held:
            concatenated += h
    per_client = int((1.0 / n_clients) * m)
    return [published_cut(concatenated[i * per_client : (i + 1) * per_client], y, chosen) for i in range(n_clients)]


def published_cut(mine, y, chosen):
    """One client's 40/30/30 cut per class as published: positions ascending, int() rounding, indices through the subsample."""
    mine = sorted(mine)
    parts = {"train": [], "test": [], "val": []}
    for c in sorted(set(y[mine].tolist())):
        pos_c = [p for p in mine if y[p] == c]
        a, b = int(0.4 * len(pos_c)), int(0.3 * len(pos_c))
        parts["train"] += [int(chosen[p]) for p in pos_c[:a]]
        parts["test"] += [int(chosen[p]) for p in pos_c[a : a + b]]
        parts["val"] += [int(chosen[p]) for p in pos_c[a + b :]]
    return parts


def reference_dirichlet(labels, n_clients, alpha, seed, min_size=10):
    """The dirichlet scheme with plain loops: per class (ascending) shuffle its positions, cut them by a
    Dirichlet draw over clients; redraw everything until each client holds min(min_size, m // n_clients)."""
    rs = np.random.RandomState(seed)
    chosen = rs.choice(len(labels), len(labels), replace=False)
    y = labels[chosen]
    m = len(y)
    least = min(min_size, m // n_clients)
    while True:
        held = [[] for _ in range(n_clients)]
        for c in sorted(set(y.tolist())):
            positions = np.array([k for k in range(m) if y[k] == c])
            rs.shuffle(positions)
            p = rs.dirichlet([alpha] * n_clients)
            cuts = [0] + list((np.cumsum(p) * len(positions)).astype(int)[:-1]) + [len(positions)]
            for i in range(n_clients):
                held[i] += positions[cuts[i] : cuts[i + 1]].tolist()
        if min(len(h) for h in held) >= least:
            return [published_cut(h, y, chosen) for h in held]


@pytest.fixture
def labels():
    rng = np.random.default_rng(7)
    return rng.integers(0, 11, size=3000)


@pytest.mark.parametrize("alpha,datapercent,seed", [(0.1, 0.2, 2025), (0.5, 1.0, 1), (10.0, 0.5, 3)])
def test_fhbench_matches_protocol_transcription(labels, alpha, datapercent, seed):
    part = make_partition(labels, "fhbench", n_clients=20, alpha=alpha, datapercent=datapercent, seed=seed)
    expected = reference_fhbench(labels, 20, alpha, datapercent, seed)
    for got, want in zip(part.clients, expected, strict=True):
        for split in ("train", "val", "test"):
            assert got[split] == want[split]


def test_fhbench_clients_equal_sized_disjoint_and_from_the_subsample(labels):
    part = make_partition(labels, "fhbench", n_clients=20, alpha=0.1, datapercent=0.2, seed=2025)
    chosen = set(np.random.RandomState(2025).choice(len(labels), int(len(labels) * 0.2), replace=False).tolist())
    everything = [i for c in part.clients for s in ("train", "val", "test") for i in c[s]]
    sizes = {sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients}
    assert sizes == {int(len(chosen) / 20)}
    assert len(everything) == len(set(everything))
    assert set(everything) <= chosen


def test_fhbench_is_label_skewed_compared_with_iid():
    labels = np.random.default_rng(0).choice(4, size=2000, p=[0.55, 0.25, 0.12, 0.08])

    def classes_per_client(scheme):
        part = make_partition(labels, scheme, n_clients=20, alpha=0.1, datapercent=0.3, seed=2025)
        return np.array([len(set(labels[c["train"] + c["val"] + c["test"]])) for c in part.clients])

    skewed, iid = classes_per_client("fhbench"), classes_per_client("iid")
    assert skewed.mean() < iid.mean()
    assert (skewed == 1).sum() >= 1  # single-class clients, which inflate plain accuracy


def test_stratified_split_is_40_30_30_per_class_in_ascending_order():
    labels = np.array([0] * 10 + [1] * 7)
    train, test, val = stratified_client_split(np.arange(17)[::-1], labels)
    assert train == [0, 1, 2, 3, 10, 11]
    assert test == [4, 5, 6, 12, 13]
    assert val == [7, 8, 9, 14, 15, 16]


@pytest.mark.parametrize("scheme", sorted(set(SCHEMES) - {"natural"}))  # natural: tests/test_partition_natural.py
def test_every_scheme_is_deterministic_and_seed_dependent(labels, scheme):
    a = make_partition(labels, scheme, n_clients=10, alpha=0.5, datapercent=0.5, seed=1)
    b = make_partition(labels, scheme, n_clients=10, alpha=0.5, datapercent=0.5, seed=1)
    c = make_partition(labels, scheme, n_clients=10, alpha=0.5, datapercent=0.5, seed=2)
    assert a.clients == b.clients
    assert a.clients != c.clients


def test_dirichlet_alpha_controls_skew(labels):
    def mean_classes(alpha):
        part = make_partition(labels, "dirichlet", n_clients=10, alpha=alpha, datapercent=1.0, seed=0)
        return np.mean([len(set(labels[c["train"] + c["val"] + c["test"]])) for c in part.clients])

    assert mean_classes(0.05) < mean_classes(100.0)


@pytest.mark.parametrize("size,n_clients,alpha", [(200, 10, 0.3), (57, 6, 5.0)])
def test_dirichlet_matches_transcription_and_redraws_until_every_client_holds_its_least(size, n_clients, alpha):
    """A draw leaving a client under min(10, m // n_clients) samples is redrawn: 10 for 200 samples in 10
    clients, 57 // 6 = 9 for 57 samples in 6 (these seeds reach both a redraw and a client at the bound)."""
    labels = np.random.default_rng(0).integers(0, 5, size=size)
    part = make_partition(labels, "dirichlet", n_clients=n_clients, alpha=alpha, datapercent=1.0, seed=0)
    expected = reference_dirichlet(labels, n_clients, alpha, seed=0)
    assert [{s: c[s] for s in ("train", "val", "test")} for c in part.clients] == expected
    assert min(sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients) >= min(10, size // n_clients)


def test_bad_arguments_name_the_problem(labels):
    with pytest.raises(ValueError, match="unknown partition scheme 'nope'"):
        make_partition(labels, "nope")
    with pytest.raises(ValueError, match="datapercent"):
        make_partition(labels, "iid", datapercent=1.5)
    with pytest.raises(ValueError, match="cannot fill 20 clients"):
        make_partition(labels[:30], "fhbench", n_clients=20, datapercent=0.1)


def test_largest_remainder_counts_give_every_part_a_sample_from_three_on():
    assert [largest_remainder_counts(n) for n in (1, 2, 3, 4, 5, 10, 11)] == [
        [1, 0, 0],
        [1, 1, 0],
        [1, 1, 1],
        [2, 1, 1],
        [2, 2, 1],
        [4, 3, 3],
        [5, 3, 3],
    ]
    for n in range(3, 200):
        counts = largest_remainder_counts(n)
        assert sum(counts) == n and min(counts) >= 1
        assert all(abs(c - share * n) < 1 for c, share in zip(counts, (0.4, 0.3, 0.3)))  # within one of the quota


def test_largest_remainder_ties_are_remainders_equal_to_nine_decimals():
    """Remainders that agree to 9 decimals are a tie (float noise in share * n does not pick the part), and a
    tie goes to the earlier part; remainders that differ before the 9th decimal go to the larger."""
    assert largest_remainder_counts(1, (0.4999999998, 0.5000000002)) == [1, 0]
    assert largest_remainder_counts(1, (0.5000000002, 0.4999999998)) == [1, 0]
    assert largest_remainder_counts(1, (0.499999, 0.500001)) == [0, 1]
    assert largest_remainder_counts(1, (0.3, 0.1 + 0.2, 0.2, 0.2)) == [1, 0, 0, 0]  # 0.1 + 0.2 = 0.30000000000000004 ties 0.3


@pytest.mark.parametrize("alpha,datapercent,seed", [(0.1, 0.2, 2025), (0.5, 1.0, 1), (10.0, 0.5, 3)])
def test_balanced_scheme_keeps_fhbench_clients_and_reaches_every_part_with_each_class(labels, alpha, datapercent, seed):
    published = make_partition(labels, "fhbench", n_clients=20, alpha=alpha, datapercent=datapercent, seed=seed)
    balanced = make_partition(labels, "fhbench_balanced", n_clients=20, alpha=alpha, datapercent=datapercent, seed=seed)
    # The published split stays index-exact (the transcription of docs/protocol.md §2) ...
    for got, want in zip(published.clients, reference_fhbench(labels, 20, alpha, datapercent, seed), strict=True):
        assert all(got[s] == want[s] for s in ("train", "val", "test"))
    reached = 0
    for pub, bal in zip(published.clients, balanced.clients, strict=True):
        # ... and the balanced one assigns the same samples to each client, cut differently.
        assert sorted(pub["train"] + pub["val"] + pub["test"]) == sorted(bal["train"] + bal["val"] + bal["test"])
        held = np.bincount(labels[pub["train"] + pub["val"] + pub["test"]], minlength=11)
        for c in np.flatnonzero(held >= 3):
            assert all((labels[bal[s]] == c).any() for s in ("train", "val", "test")), (c, held[c])
            reached += 1
    assert reached > 20  # the check ran over many (client, class) pairs


def test_published_cut_misses_test_parts_that_the_balanced_cut_reaches():
    # A client with 10 of class 0 and 3 of class 1: int(0.3 * 3) = 0 test samples of class 1 as
    # published; largest remainder gives it one in every part.
    labels = np.array([0] * 10 + [1] * 3)
    train, test, val = stratified_client_split(np.arange(13), labels)
    assert sorted(labels[test].tolist()) == [0, 0, 0] and sorted(labels[val].tolist()) == [0, 0, 0, 1, 1]
    train, test, val = balanced_client_split(np.arange(13), labels)
    assert sorted(labels[train].tolist()) == [0, 0, 0, 0, 1] and sorted(labels[test].tolist()) == [0, 0, 0, 1]
    assert sorted(labels[val].tolist()) == [0, 0, 0, 1]


def test_make_partition_defaults_are_the_published_setting():
    """Called with labels only, make_partition is the published fhbench split: 20 clients, alpha 0.1, seed 2025."""
    labels = np.random.default_rng(3).integers(0, 5, size=1000)
    part = make_partition(labels)
    assert part.scheme == "fhbench"
    assert part.params == {"n_clients": 20, "alpha": 0.1, "datapercent": 1.0, "seed": 2025}
    expected = reference_fhbench(labels, 20, 0.1, 1.0, 2025)
    assert [{s: c[s] for s in ("train", "val", "test")} for c in part.clients] == expected


@pytest.mark.parametrize("n_clients,alpha,seed", [(7, 0.05, 0), (5, 0.3, 11), (9, 1.0, 4), (4, 0.3, 2), (6, 0.1, 5)])
def test_fhbench_matches_protocol_when_clients_leave_remainder_rows(labels, n_clients, alpha, seed):
    """Client counts that do not divide the 2999 samples leave remainder rows to the last chunk; the transcription must still match."""
    part = make_partition(labels[:2999], "fhbench", n_clients=n_clients, alpha=alpha, datapercent=1.0, seed=seed)
    expected = reference_fhbench(labels[:2999], n_clients, alpha, 1.0, seed)
    assert [{s: c[s] for s in ("train", "val", "test")} for c in part.clients] == expected


@pytest.mark.parametrize(
    "size,probs,n_clients,label_seed",
    [(40, [0.8, 0.1, 0.05, 0.05], 4, 0), (60, [0.45, 0.45, 0.05, 0.05], 6, 7)],
)
def test_fhbench_matches_protocol_on_skewed_labels_that_force_redraws(size, probs, n_clients, label_seed):
    """With one dominant class a chunk's draw can leave a worker under int(0.5 * size / 2) rows, and the
    chunk is drawn again; with rare classes both workers can fill up before the last class, whose draw
    is still taken (and skipped). The transcription of docs/protocol.md §2 must still match index for index."""
    labels = np.random.default_rng(label_seed).choice(len(probs), size=size, p=probs)
    part = make_partition(labels, "fhbench", n_clients=n_clients, alpha=0.1, datapercent=1.0, seed=label_seed)
    expected = reference_fhbench(labels, n_clients, 0.1, 1.0, label_seed)
    assert [{s: c[s] for s in ("train", "val", "test")} for c in part.clients] == expected


def test_to_json_counts_every_class_of_the_labels_as_ints():
    """class_counts has one integer entry per class 0..max(label), even for classes a client lacks."""
    labels = np.array([0, 0, 1, 1, 4, 4])
    part = Partition(clients=[{"train": [0, 2], "val": [1], "test": [3]}, {"train": [4], "val": [5], "test": []}], scheme="iid")
    data = part.to_json(labels)
    assert data["n_classes"] == 5 and data["scheme"] == "iid" and data["labels"]
    assert data["clients"][0]["class_counts"] == {"train": [1, 1, 0, 0, 0], "val": [1, 0, 0, 0, 0], "test": [0, 1, 0, 0, 0]}
    assert data["clients"][1]["class_counts"] == {"train": [0, 0, 0, 0, 1], "val": [0, 0, 0, 0, 1], "test": [0, 0, 0, 0, 0]}
    assert all(type(v) is int for c in data["clients"] for counts in c["class_counts"].values() for v in counts)
    # No labels: no classes (and no crash on labels.max()).
    assert Partition(clients=[], scheme="iid").to_json(np.array([], dtype=np.int64))["n_classes"] == 0


def test_empty_parts_are_empty_index_lists():
    """A client whose class cut leaves a part empty gets [] there; indices map through the subsample."""
    assert stratified_client_split(np.array([], dtype=np.int64), np.array([0, 1])) == ([], [], [])
    assert stratified_client_split([], np.array([0, 1])) == ([], [], [])
    assert balanced_client_split([], np.array([0, 1])) == ([], [], [])
    chosen = np.array([30, 10, 20])
    # Two samples of one class: largest remainder gives one to train, one to test, none to val;
    # one sample under the published cut goes to val only.
    assert _finish([np.array([0, 1])], chosen, np.array([0, 0, 1]), balanced_client_split) == [{"train": [30], "val": [], "test": [10]}]
    assert _finish([np.array([2])], chosen, np.array([0, 0, 1])) == [{"train": [], "val": [20], "test": []}]


def test_label_summary_lists_at_most_eight_classes():
    """The error text lists the distinct labels sorted, the first eight, then ', ...' if more."""
    assert _label_summary(np.array([3, 1, 2, 1])) == "1, 2, 3"
    assert _label_summary(np.arange(8)[::-1]) == "0, 1, 2, 3, 4, 5, 6, 7"
    assert _label_summary(np.arange(9)) == "0, 1, 2, 3, 4, 5, 6, 7, ..."


def test_make_partition_argument_checks_at_their_bounds():
    """Bounds: datapercent 0, alpha 0 / negative / NaN are refused; one client, gaps in the classes, and
    exactly one sample per client are accepted; a split where nobody trains is refused."""
    labels = np.random.default_rng(1).integers(0, 3, size=200)
    with pytest.raises(InputError, match=r"datapercent: 0 is not in \(0, 1\]"):
        make_partition(labels, "iid", n_clients=2, datapercent=0)
    for alpha in (0, -1.0, float("nan")):
        with pytest.raises(InputError, match="^alpha: "):
            make_partition(labels, "iid", n_clients=2, alpha=alpha)
    with pytest.raises(InputError, match="^labels: "):
        make_partition(np.zeros((4, 2), dtype=int), "iid", n_clients=2)
    one = make_partition(labels, "iid", n_clients=1, seed=0)
    assert len(one.clients) == 1 and sorted(i for s in ("train", "val", "test") for i in one.clients[0][s]) == list(range(200))
    gappy = np.where(labels == 2, 7, labels)  # classes 0, 1 and 7: no 2..6
    assert len(make_partition(gappy, "iid", n_clients=4).clients) == 4
    # Four samples, four clients: each gets its one sample in train under the balanced cut.
    four = make_partition(np.array([0, 1, 0, 1]), "fhbench_balanced", n_clients=4, alpha=1.0, seed=0)
    assert sorted(c["train"][0] for c in four.clients) == [0, 1, 2, 3]
    # Ten samples of ten classes in five clients: no class reaches int(0.4 * 1) = 1 training sample.
    with pytest.raises(InputError, match="none of the 5 clients gets a training sample"):
        make_partition(np.arange(10), "iid", n_clients=5)


@pytest.mark.parametrize("scheme", ["fhbench", "fhbench_balanced"])
def test_fhbench_keeps_every_sample_when_the_labels_have_a_gap(scheme):
    """The published loop draws classes 0..K-1 (K distinct labels), so with labels {0, 1, 2, 3, 5} it
    would leave out all 48 samples of class 5; here every working sample is placed (up to the
    equal-slice remainder), and a class absent from the data changes no draw of the others: the
    split of labels 0..4 with 5 renamed 4 is the same, index for index."""
    rng = np.random.RandomState(0)
    labels = rng.choice([0, 1, 2, 3, 5], size=1000, p=[0.3, 0.3, 0.2, 0.152, 0.048])
    assert (labels == 5).sum() > 0
    part = make_partition(labels, scheme, n_clients=10, alpha=0.5, seed=3)
    placed = np.concatenate([c[split] for c in part.clients for split in ("train", "val", "test")])
    assert len(placed) == len(np.unique(placed)) == 1000  # int(1000 / 10) * 10: no remainder here
    assert set(labels[placed]) == {0, 1, 2, 3, 5}
    renamed = make_partition(np.where(labels == 5, 4, labels), scheme, n_clients=10, alpha=0.5, seed=3)
    for mine, theirs in zip(part.clients, renamed.clients):
        assert all(sorted(mine[split]) == sorted(theirs[split]) for split in ("train", "val", "test"))


def test_scheme_shares_samples_only_for_schemes_that_say_so(monkeypatch):
    """No built-in scheme shares samples; a scheme function with shares_samples = True does; a name that is no
    scheme, or a scheme field that is not a name (a split file's JSON may hold anything), does not."""
    assert [scheme_shares_samples(name) for name in sorted(SCHEMES)] == [False] * 7

    def overlapping(working_labels, n_clients, alpha, rs, groups=None):
        return [np.arange(len(working_labels))] * n_clients

    overlapping.shares_samples = True
    monkeypatch.setitem(SCHEMES, "overlapping", overlapping)
    assert scheme_shares_samples("overlapping") is True
    assert scheme_shares_samples("fhbench") is False
    for odd in ("nope", None, 3, ["overlapping"], {"scheme": "overlapping"}):
        assert scheme_shares_samples(odd) is False


def test_a_scheme_that_leaves_a_client_empty_is_refused_naming_the_client(monkeypatch):
    # A scheme (built-in or a plugin's) may hand a client no sample at all while others train:
    # that client could be neither trained nor scored, so the split is refused, naming it.
    import fhbench.partition as partition

    def second_client_empty(working_labels, n_clients, alpha, rs, groups=None):
        order = rs.permutation(len(working_labels)).astype(np.int64)
        return [order[: len(order) // 2], order[:0], order[len(order) // 2 :]]

    monkeypatch.setitem(partition.SCHEMES, "second_empty", second_client_empty)
    labels = np.repeat(np.arange(2), 20)
    with pytest.raises(InputError, match="client 1 of 3 gets no sample"):
        partition.make_partition(labels, "second_empty", 3, seed=2025)
