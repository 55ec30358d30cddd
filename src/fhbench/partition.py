"""Client splits: the exact FHBench ``fhbench`` scheme, plus ``fhbench_balanced``, ``dirichlet``,
``iid``, ``natural``, ``planted`` and ``quantity``.

Every scheme first subsamples ``datapercent`` of the pooled data, then assigns the working
positions to clients, then cuts each client 40/30/30 into train/test/val per class
(docs/protocol.md §2). Indices returned are always indices into the pooled label vector.

The published cut rounds each class's train and test counts down (``int(0.4 n)``,
``int(0.3 n)``) and sends the remainders to validation: a class with 1–3 samples of a client
never reaches its test part, so test parts over-represent each client's main class.
``fhbench_balanced`` assigns clients exactly as ``fhbench`` and cuts each class by
largest-remainder rounding instead, so every class with at least 3 samples of a client reaches
train, validation and test (:func:`largest_remainder_counts`).

``natural`` clients are the groups of a metadata column (patient, device, site, subject; see
``Dataset.natural_groups``): after subsampling, the groups are ranked by their number of
working samples (largest first, ties by group name) and the ``n_clients`` largest become the
clients, the samples of the other groups are left out; with ``n_clients`` None every group is
a client. Client i is the i-th largest group, and the partition records each client's group.

``quantity`` skews client sizes, not labels: each client holds a floor of ``min_share`` of the
working samples, and the rest is shared in proportion to log-normal weights (σ = ``sigma``), a
heavy-tailed law: a few large clients, many small ones. Samples are drawn uniformly, so labels
are IID. The draw is repeated (at most ``MAX_DRAWS`` times) until the largest client's training
part is at least ``min_ratio`` times the smallest's (1: any draw).

Any scheme can hold out ``unseen`` clients (:func:`hold_out`): drawn from the partition seed,
moved after the others and marked ``unseen``; they never train and are scored at the end as
newcomers (:mod:`fhbench.newcomers`).

``planted`` is a scenario with a known answer: the data is shuffled into equal clients as
``iid``, and client i joins planted group i mod ``n_groups``. Group g sees every class relabelled
by a cyclic shift (group 0 keeps the labels, group g shifts class c to c + g·⌊C / n_groups⌋
mod C, so groups disagree on every class). Clients of one group share a task, clients of
different groups contradict each other: a global model cannot fit them all, and a method that
finds similar clients should mix within groups. Each client records ``planted_group`` and its
``label_map`` (applied by the engine through :func:`apply_label_maps`).

Every scheme here gives each sample to one client and one part of it (train, val or test);
a run refuses a split that does not (:func:`fhbench.validate.check_disjoint`). A scheme whose
clients share samples on purpose must say so: ``shares_samples = True`` on its function, and
its docstring saying why. ``planted`` does not: a sample relabelled for two clients would
need two labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fhbench.errors import InputError

SPLITS = ("train", "val", "test")
# Redraw loops give up after this many draws. A run that succeeds today never needs more than a
# few, so the bound changes no split; it only turns an endless loop into an error.
MAX_DRAWS = 1000


@dataclass
class Partition:
    """Per-client train/val/test indices into the pooled label vector."""

    clients: list[dict[str, list[int]]]
    scheme: str
    params: dict = field(default_factory=dict)
    groups: list[str] | None = None  # natural scheme: the metadata group each client is
    planted_groups: list[int] | None = None  # planted scheme: each client's group
    label_maps: list[list[int]] | None = None  # planted scheme: each client's class relabelling
    unseen: list[bool] | None = None  # clients held out of training (scored as newcomers)

    def to_json(self, labels: np.ndarray) -> dict:
        """Serialisable form with per-client class counts for inspection."""
        n_classes = int(labels.max()) + 1 if len(labels) else 0
        clients = []
        for c in self.clients:
            entry = {s: [int(i) for i in c[s]] for s in SPLITS}
            if self.groups is not None:
                entry["group"] = self.groups[len(clients)]
            if self.planted_groups is not None:
                entry["planted_group"] = self.planted_groups[len(clients)]
                entry["label_map"] = self.label_maps[len(clients)]
            if self.unseen is not None and self.unseen[len(clients)]:
                entry["unseen"] = True
            entry["class_counts"] = {s: np.bincount(labels[c[s]], minlength=n_classes).astype(int).tolist() for s in SPLITS}
            clients.append(entry)
        from fhbench.validate import labels_identity

        # The labels' identity: a run checks that its prepared labels are the ones split here.
        return {"scheme": self.scheme, "params": self.params, "n_classes": n_classes, "labels": labels_identity(labels), "clients": clients}


def stratified_client_split(positions: np.ndarray, labels: np.ndarray) -> tuple[list, list, list]:
    """Cut one client's positions 40/30/30 per class: part 0 train, part 1 test, part 2 val.

    ``labels`` is indexed by position. Positions are taken in ascending order and each class
    (ascending) gives its first int(0.4 n) to train, the next int(0.3 n) to test, the rest to val,
    matching the published code.
    """
    positions = np.sort(np.asarray(positions, dtype=np.int64))
    train, test, val = [], [], []
    client_labels = labels[positions]
    for c in np.unique(client_labels):
        pos_c = positions[client_labels == c]
        n_c = len(pos_c)
        n_train, n_test = int(0.4 * n_c), int(0.3 * n_c)
        train.extend(pos_c[:n_train].tolist())
        test.extend(pos_c[n_train : n_train + n_test].tolist())
        val.extend(pos_c[n_train + n_test :].tolist())
    return train, test, val


#: Shares of a client's samples of one class in train, test and val (the published part order).
CUT_SHARES = (0.4, 0.3, 0.3)


def largest_remainder_counts(n: int, shares: tuple[float, ...] = CUT_SHARES) -> list[int]:
    """``n`` items apportioned to parts by ``shares`` with the largest-remainder (Hamilton) method.

    Each part gets the floor of its quota ``share · n``; the items left go one each to the parts
    with the largest fractional remainders, ties to the earlier part. With (0.4, 0.3, 0.3), any
    n ≥ 3 gives every part at least one item (n = 3: quotas 1.2, 0.9, 0.9 → 1, 1, 1).
    """
    quotas = [share * n for share in shares]
    counts = [math.floor(q + 1e-9) for q in quotas]
    remainders = [q - c for q, c in zip(quotas, counts)]
    for i in sorted(range(len(shares)), key=lambda i: (-round(remainders[i], 9), i))[: n - sum(counts)]:
        counts[i] += 1
    return counts


def balanced_client_split(positions: np.ndarray, labels: np.ndarray) -> tuple[list, list, list]:
    """Cut one client's positions per class by largest-remainder rounding of 40/30/30:
    part 0 train, part 1 test, part 2 val, positions ascending within each class (as published)."""
    positions = np.sort(np.asarray(positions, dtype=np.int64))
    train, test, val = [], [], []
    client_labels = labels[positions]
    for c in np.unique(client_labels):
        pos_c = positions[client_labels == c]
        n_train, n_test, _ = largest_remainder_counts(len(pos_c))
        train.extend(pos_c[:n_train].tolist())
        test.extend(pos_c[n_train : n_train + n_test].tolist())
        val.extend(pos_c[n_train + n_test :].tolist())
    return train, test, val


def _finish(
    client_positions: list[np.ndarray], chosen: np.ndarray, working_labels: np.ndarray, cut: Callable = stratified_client_split
) -> list[dict]:
    clients = []
    for positions in client_positions:
        train, test, val = cut(positions, working_labels)
        clients.append(
            {
                "train": chosen[np.asarray(train, dtype=np.int64)].tolist(),
                "val": chosen[np.asarray(val, dtype=np.int64)].tolist(),
                "test": chosen[np.asarray(test, dtype=np.int64)].tolist(),
            }
        )
    return clients


def _subsample(rs, n: int, datapercent: float) -> np.ndarray:
    if not 0 < datapercent <= 1:
        raise InputError("datapercent", f"{datapercent} is not in (0, 1]", "give the fraction of the pooled data to use")
    return rs.choice(n, int(n * datapercent), replace=False)


def fhbench_positions(
    working_labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rs: np.random.RandomState,
    groups: np.ndarray | None = None,
    workers_per_chunk: int = 2,
) -> list[np.ndarray]:
    """Steps 2-3 of docs/protocol.md §2: Dirichlet over pairs of auxiliary workers, then equal slices."""
    m = len(working_labels)
    rows = np.stack([np.arange(m), working_labels], axis=1).astype(np.int64)
    rs.shuffle(rows)
    # The published loop draws classes 0..K-1 (K distinct labels) and silently drops every sample
    # of a label >= K when the labels have a gap; drawing the labels present instead is the same
    # draw for draw when they are 0..K-1, and keeps every sample otherwise (docs/protocol.md §6).
    classes = np.unique(working_labels)
    n_classes = len(classes)
    n_chunks = math.ceil(n_clients / workers_per_chunk)
    chunk_len = int(workers_per_chunk / n_clients * m)
    ordered: list[int] = []
    for chunk_id in range(n_chunks):
        stop = (chunk_id + 1) * chunk_len if chunk_id < n_chunks - 1 else m
        chunk = rows[chunk_id * chunk_len : stop]
        size = len(chunk)
        min_size = int(0.5 * size / workers_per_chunk)
        for _ in range(MAX_DRAWS):
            workers: list[list[int]] = [[] for _ in range(workers_per_chunk)]
            for c in classes:
                pos_c = chunk[chunk[:, 1] == c, 0]
                p = rs.dirichlet([alpha] * workers_per_chunk)
                # A worker that already holds its share of the chunk takes no more.
                p = np.array([share * (len(w) < size / workers_per_chunk) for share, w in zip(p, workers)])
                if p.sum() == 0:  # every worker full: the chunk has no rows left to place
                    continue
                p = p / p.sum()
                cuts = (np.cumsum(p) * len(pos_c)).astype(int)[:-1]
                workers = [w + piece.tolist() for w, piece in zip(workers, np.split(pos_c, cuts))]
            if min(len(w) for w in workers) >= min_size:
                break
        else:
            raise InputError(
                "fhbench split",
                f"alpha={alpha} cannot give both workers of chunk {chunk_id} at least {min_size} of its {size} samples "
                f"after {MAX_DRAWS} draws ({n_classes} classes: {_label_summary(working_labels)})",
                "raise alpha",
            )
        for w in workers:
            ordered.extend(w)
    ordered_arr = np.asarray(ordered, dtype=np.int64)
    per_client = int((1.0 / n_clients) * m)
    return [ordered_arr[i * per_client : (i + 1) * per_client] for i in range(n_clients)]


def fhbench_balanced_positions(
    working_labels: np.ndarray, n_clients: int, alpha: float, rs: np.random.RandomState, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """The ``fhbench`` clients, draw for draw; only the per-client cut differs (``client_cut``)."""
    return fhbench_positions(working_labels, n_clients, alpha, rs)


fhbench_balanced_positions.client_cut = balanced_client_split


def dirichlet_positions(
    working_labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rs: np.random.RandomState,
    groups: np.ndarray | None = None,
    min_size: int = 10,
) -> list[np.ndarray]:
    """Standard per-class Dirichlet over clients; client sizes as drawn (redrawn until each holds min_size)."""
    m = len(working_labels)
    min_size = min(min_size, m // n_clients)
    for _ in range(MAX_DRAWS):
        buckets: list[list[int]] = [[] for _ in range(n_clients)]
        for c in np.unique(working_labels):
            pos_c = np.flatnonzero(working_labels == c)
            rs.shuffle(pos_c)
            p = rs.dirichlet([alpha] * n_clients)
            cuts = (np.cumsum(p) * len(pos_c)).astype(int)[:-1]
            for b, piece in zip(buckets, np.split(pos_c, cuts)):
                b.extend(piece.tolist())
        if min(len(b) for b in buckets) >= min_size:
            return [np.asarray(b, dtype=np.int64) for b in buckets]
    raise InputError(
        "dirichlet split",
        f"alpha={alpha} cannot give every one of {n_clients} clients at least {min_size} samples of {m} after {MAX_DRAWS} draws",
        "raise alpha, use fewer clients or more data",
    )


def _label_summary(labels: np.ndarray) -> str:
    values = np.unique(labels)
    return ", ".join(map(str, values[:8].tolist())) + (", ..." if len(values) > 8 else "")


def iid_positions(
    working_labels: np.ndarray, n_clients: int, alpha: float, rs: np.random.RandomState, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """Uniformly shuffled, equal-sized clients."""
    order = rs.permutation(len(working_labels))
    return [np.asarray(a, dtype=np.int64) for a in np.array_split(order, n_clients)]


def quantity_positions(
    working_labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rs: np.random.RandomState,
    groups: np.ndarray | None = None,
    sigma: float = 1.0,
    min_share: float = 0.01,
    min_ratio: float = 1.0,
) -> list[np.ndarray]:
    """Quantity skew: IID clients whose sizes are a floor plus log-normal shares of the rest.

    Client i holds ⌊min_share · m⌋ + its share of the remaining samples in proportion to
    w_i ~ LogNormal(0, σ²) (rounded down, the leftover samples one each to the largest
    remainders). Redrawn until the largest training part is ≥ ``min_ratio`` × the smallest (and
    the smallest is not empty), at most ``MAX_DRAWS`` times.
    """
    m = len(working_labels)
    floor = int(min_share * m)
    if floor * n_clients > m:
        raise InputError(
            "min_share", f"{n_clients} clients × {floor} samples exceed the {m} working samples", "lower min_share or n_clients"
        )
    for _ in range(MAX_DRAWS):
        weights = rs.lognormal(0.0, sigma, n_clients)
        shares = (m - floor * n_clients) * weights / weights.sum()
        sizes = np.floor(shares).astype(np.int64)
        sizes[np.argsort(sizes - shares, kind="stable")[: m - floor * n_clients - sizes.sum()]] += 1
        sizes += floor
        positions = np.split(rs.permutation(m).astype(np.int64), np.cumsum(sizes)[:-1])
        train = [len(stratified_client_split(p, working_labels)[0]) for p in positions]
        if min(train) > 0 and max(train) >= min_ratio * min(train):
            return positions
    raise InputError(
        "min_ratio",
        f"no draw of {MAX_DRAWS} gave the largest of {n_clients} clients {min_ratio}× the training samples of the smallest "
        f"(sigma {sigma}, min_share {min_share}, {m} samples)",
        "raise sigma, lower min_share or min_ratio",
    )


def rank_groups(groups: np.ndarray) -> list[str]:
    """Distinct group names, largest group first; ties broken by name so the order is stable."""
    names, counts = np.unique(np.asarray(groups).astype(str), return_counts=True)
    return [str(names[i]) for i in sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))]


def natural_positions(
    working_labels: np.ndarray, n_clients: int | None, alpha: float, rs: np.random.RandomState, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """One client per metadata group: the ``n_clients`` largest groups (all when None)."""
    if groups is None:
        raise InputError(
            "natural split",
            "the natural scheme needs a group per sample",
            "name the metadata column (partitions.<name>.group, or --group with --metadata)",
        )
    groups = np.asarray(groups).astype(str)
    ranked = rank_groups(groups)
    if n_clients is not None and n_clients > len(ranked):
        raise InputError(
            "natural split",
            f"{n_clients} clients asked for, but the data holds only {len(ranked)} groups",
            "use fewer clients, or n_clients: null for one per group",
        )
    return [np.flatnonzero(groups == g) for g in ranked[:n_clients]]


natural_positions.clients_are_groups = True


def planted_positions(
    working_labels: np.ndarray, n_clients: int, alpha: float, rs: np.random.RandomState, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """Equal IID clients; the planted groups and their relabelling are added by :func:`plant_groups`."""
    return iid_positions(working_labels, n_clients, alpha, rs)


planted_positions.plants_groups = True


def plant_groups(n_clients: int, n_groups: int, n_classes: int) -> tuple[list[int], list[list[int]]]:
    """Client i's group (i mod ``n_groups``) and each client's label map (a cyclic class shift per group)."""
    if not 1 <= n_groups <= n_clients:
        raise ValueError(f"planted split: n_groups must lie in [1, n_clients={n_clients}], got {n_groups}")
    if n_groups > n_classes:
        raise ValueError(f"planted split: {n_groups} groups need at least as many classes, the data has {n_classes}")
    step = max(1, n_classes // n_groups)
    groups = [i % n_groups for i in range(n_clients)]
    maps = [[(c + g * step) % n_classes for c in range(n_classes)] for g in groups]
    return groups, maps


def scheme_shares_samples(scheme: object) -> bool:
    """Whether a partition scheme documents that its clients share samples (``shares_samples`` on its function)."""
    return isinstance(scheme, str) and bool(getattr(SCHEMES.get(scheme), "shares_samples", False))


def apply_label_maps(labels: np.ndarray, split: dict) -> np.ndarray:
    """The label vector as each client sees it: a client's ``label_map`` relabels its samples.

    Splits without label maps return ``labels`` unchanged. A sample relabelled for two clients
    would have two labels, so clients with maps must not share samples.
    """
    clients = [c for c in split.get("clients", []) if c.get("label_map") is not None]
    if not clients:
        return labels
    out = np.asarray(labels).copy()
    seen = np.zeros(len(out), dtype=bool)
    for c in clients:
        idx = np.asarray([i for s in SPLITS for i in c[s]], dtype=np.int64)
        if seen[idx].any():
            raise ValueError("split: clients with a label_map share samples, which would need two labels each")
        seen[idx] = True
        out[idx] = np.asarray(c["label_map"], dtype=out.dtype)[labels[idx]]
    return out


SCHEMES: dict[str, Callable[..., list[np.ndarray]]] = {
    "fhbench": fhbench_positions,
    "fhbench_balanced": fhbench_balanced_positions,
    "dirichlet": dirichlet_positions,
    "iid": iid_positions,
    "natural": natural_positions,
    "planted": planted_positions,
    "quantity": quantity_positions,
}
#: Options of one scheme only and their defaults, passed to its function (``partitions.<name>.<option>``).
SCHEME_OPTIONS = {"quantity": {"sigma": 1.0, "min_share": 0.01, "min_ratio": 1.0}}
# The stream that picks unseen clients: apart from the scheme's draws, so holding clients out
# leaves every client's samples as they were.
HOLD_OUT_STREAM = 27


def hold_out(n_clients: int, unseen: int, seed: int) -> list[int]:
    """The ``unseen`` clients of ``n_clients`` held out of training: a uniform draw from the partition seed."""
    if not 0 <= unseen < n_clients:
        raise InputError("unseen", f"{unseen} unseen clients of {n_clients} leave none to train", f"hold out at most {n_clients - 1}")
    rng = np.random.default_rng([int(seed), HOLD_OUT_STREAM])
    return sorted(int(c) for c in rng.choice(n_clients, size=unseen, replace=False))


def check_partition_config(name: str, part: dict) -> None:
    """What the schema cannot check about one ``partitions`` entry, before anything is planned:
    unseen clients leave some to train; a quantity skew's floor and ratio can be met. Raises
    :class:`~fhbench.errors.ConfigError` naming the key."""
    from fhbench.errors import ConfigError

    where = f"partitions.{name}"
    n_clients, unseen = part.get("n_clients", 20), part.get("unseen", 0)
    if unseen and n_clients is not None and unseen >= n_clients:
        raise ConfigError(f"{where}.unseen: {unseen} unseen clients of {n_clients} leave none to train; hold out at most {n_clients - 1}")
    foreign = sorted(k for scheme, keys in SCHEME_OPTIONS.items() if scheme != part["scheme"] for k in keys if k in part)
    if foreign:
        raise ConfigError(f"{where}.{foreign[0]}: not an option of the {part['scheme']} scheme")
    if part["scheme"] != "quantity":
        return
    options = SCHEME_OPTIONS["quantity"] | {k: part[k] for k in SCHEME_OPTIONS["quantity"] if k in part}
    min_share, min_ratio = options["min_share"], options["min_ratio"]
    if min_share * n_clients > 1:
        raise ConfigError(
            f"{where}.min_share: {n_clients} clients × {min_share} of the samples each need {min_share * n_clients:g} of the data; "
            f"at most 1/{n_clients} = {1 / n_clients:.4g}"
        )
    # Largest possible ratio: every sample above the floors in one client (training parts are ~40% of each).
    ceiling = (1 - (n_clients - 1) * min_share) / min_share
    if min_ratio > ceiling:
        raise ConfigError(
            f"{where}.min_ratio: {min_ratio}× cannot be met with {n_clients} clients each holding at least {min_share} of the "
            f"samples (at most {ceiling:.3g}×); lower min_ratio or min_share"
        )


def _move_last(part: "Partition", held: list[int]) -> None:
    """Reorder every per-client list so the held-out clients follow the others, and mark them."""
    order = [i for i in range(len(part.clients)) if i not in held] + held
    for name in ("clients", "groups", "planted_groups", "label_maps"):
        values = getattr(part, name)
        if values is not None:
            setattr(part, name, [values[i] for i in order])
    part.unseen = [i in held for i in order]


def make_partition(
    labels: np.ndarray,
    scheme: str = "fhbench",
    n_clients: int | None = 20,
    alpha: float = 0.1,
    datapercent: float = 1.0,
    seed: int = 2025,
    groups: np.ndarray | None = None,
    n_groups: int = 2,
    unseen: int = 0,
    **scheme_options,
) -> Partition:
    """Split a pooled label vector into clients, each cut into train/val/test.

    One ``numpy.random.RandomState(seed)`` drives subsampling and assignment, in that order, so
    the ``fhbench`` scheme reproduces the published indices for the same inputs. ``groups``
    (one value per pooled sample) is needed by the ``natural`` scheme only; there
    ``n_clients`` None means one client per group. ``n_groups`` is the ``planted`` scheme's
    number of groups; ``scheme_options`` those of :data:`SCHEME_OPTIONS` (``quantity``: sigma,
    min_share, min_ratio). ``unseen`` clients are held out (:func:`hold_out`) and listed last.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    foreign = sorted(set(scheme_options) - set(SCHEME_OPTIONS.get(scheme, {})))
    if foreign:
        raise InputError(
            foreign[0], f"is not an option of the {scheme} scheme", f"options: {list(SCHEME_OPTIONS.get(scheme, ())) or 'none'}"
        )
    from fhbench.validate import check_labels

    # Class indices only (no reshaping or truncation), and below the sample count so that no
    # table indexed by label value grows with it.
    labels = check_labels(labels, "labels", contiguous=False)
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise InputError("alpha", f"{alpha} is not a positive finite number", "give the Dirichlet concentration, e.g. 0.1")
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"{len(groups)} group values for {len(labels)} samples")
    if n_clients is None and scheme != "natural":
        raise ValueError(f"the {scheme} scheme needs n_clients; only natural takes one client per group")
    if n_clients is not None and n_clients < 1:
        raise InputError("n_clients", f"{n_clients} is not at least 1", "give the number of clients")
    rs = np.random.RandomState(seed)
    chosen = _subsample(rs, len(labels), datapercent)
    working_labels = labels[chosen]
    if n_clients is not None and len(working_labels) < n_clients:
        raise InputError(
            "n_clients",
            f"{len(working_labels)} samples after datapercent={datapercent} cannot fill {n_clients} clients",
            "use fewer clients or a larger datapercent",
        )
    working_groups = None if groups is None else np.asarray(groups).astype(str)[chosen]
    positions = SCHEMES[scheme](working_labels, n_clients, alpha, rs, groups=working_groups, **scheme_options)
    params = {"n_clients": n_clients, "alpha": alpha, "datapercent": datapercent, "seed": seed, **scheme_options}
    client_groups = None
    if getattr(SCHEMES[scheme], "clients_are_groups", False):  # record which group each client is
        client_groups = [str(working_groups[p[0]]) for p in positions]
        params["n_clients"] = len(positions)
    clients = _finish(positions, chosen, working_labels, getattr(SCHEMES[scheme], "client_cut", stratified_client_split))
    # Tiny clients may get no training row (int(0.4 * 1) = 0) and still be scored; but a split
    # where no client trains, or a client holds nothing, gives no run (it was a ZeroDivisionError).
    empty = [i for i, c in enumerate(clients) if not any(c[s] for s in SPLITS)]
    if empty or not any(c["train"] for c in clients):
        raise InputError(
            f"{scheme} split",
            (
                f"client {empty[0]} of {len(clients)} gets no sample"
                if empty
                else f"none of the {len(clients)} clients gets a training sample"
            )
            + f" ({len(working_labels)} samples after datapercent={datapercent})",
            "use fewer clients, a larger datapercent or more data",
        )
    part = Partition(clients=clients, scheme=scheme, params=params, groups=client_groups)
    if getattr(SCHEMES[scheme], "plants_groups", False):
        part.planted_groups, part.label_maps = plant_groups(len(positions), n_groups, int(labels.max()) + 1)
        part.params["n_groups"] = n_groups
    if unseen:
        _move_last(part, hold_out(len(clients), unseen, seed))
        part.params["unseen"] = unseen
    return part


def partition_prepared(
    prepared_dir,
    out,
    scheme: str,
    n_clients: int | None,
    alpha: float,
    datapercent: float,
    seed: int,
    group: str | None = None,
    n_groups: int = 2,
    unseen: int = 0,
    **scheme_options,
) -> Partition:
    """Partition a prepared dataset's labels (and, for ``natural``, a metadata column) and write the split JSON atomically."""
    import sys
    from pathlib import Path

    import pandas as pd

    from fhbench.io import write_json
    from fhbench.validate import check_labels, check_output_path, load_npy, read_info

    prepared_dir = Path(prepared_dir)
    check_output_path(out, "split")
    info = read_info(prepared_dir)
    labels = check_labels(load_npy(prepared_dir / "labels.npy", "labels"), prepared_dir / "labels.npy", info["n_classes"])
    groups = None
    if group is not None:
        metadata = pd.read_csv(prepared_dir / "metadata.csv", usecols=lambda c: c == group, dtype=str, keep_default_na=False)
        if group not in metadata.columns:
            columns = list(pd.read_csv(prepared_dir / "metadata.csv", nrows=0).columns)
            raise ValueError(f"{prepared_dir / 'metadata.csv'} has no column {group!r} for a natural split; columns: {columns}")
        groups = metadata[group].to_numpy()
    part = make_partition(
        labels, scheme, n_clients, alpha, datapercent, seed, groups=groups, n_groups=n_groups, unseen=unseen, **scheme_options
    )
    if group is not None:
        part.params["group"] = group
    write_json(out, part.to_json(labels))
    sizes = [sum(len(c[s]) for s in SPLITS) for c in part.clients]
    held = f", {unseen} of them unseen" if unseen else ""
    print(
        f"{out}: {scheme} split, {len(sizes)} clients{held}, {sum(sizes)} samples ({min(sizes)}-{max(sizes)} per client)", file=sys.stderr
    )
    return part
