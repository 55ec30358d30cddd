"""Shared path of the per-dataset tests: demo twin → loopback HTTP → download → prepare → partition."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from fhbench.data import get_dataset
from fhbench.data.base import write_manifest
from fhbench.data.prepared import PreparedDataset, load_prepared
from fhbench.partition import partition_prepared


@dataclass
class RoundTrip:
    served: Path  # the demo twin, as the source would serve it
    raw: Path  # what the download code fetched
    prepared: PreparedDataset
    prepared_dir: Path
    split: dict
    requests: list[dict]


def loopback_roundtrip(key: str, tmp_path: Path, http_mirror, demo: dict, mirror_checksums: bool = False, n_clients: int = 5) -> RoundTrip:
    """Serve ``key``'s demo twin on 127.0.0.1 and run the real download, prepare and partition code.

    ``mirror_checksums``: the source publishes md5s the demo twin cannot match, so pass the
    mirror's own (the mismatch itself is tested in test_download.py).
    """
    dataset = get_dataset(key)
    served = tmp_path / "served"
    dataset.generate_demo(served, **demo)
    checksums = None
    if mirror_checksums:
        checksums = {r.filename: hashlib.md5((served / r.filename).read_bytes()).hexdigest() for r in dataset.remote_files()}
    raw = tmp_path / "raw"
    with http_mirror(served) as (base_url, handler):
        dataset.download(raw, base_url=base_url, part_dir=tmp_path / "parts", checksums=checksums)
        write_manifest(raw, "remote", base_url)
    for remote in dataset.remote_files():
        assert (raw / remote.filename).read_bytes() == (served / remote.filename).read_bytes()
    dataset.prepare(raw, tmp_path / "prepared")
    split_path = tmp_path / "split.json"
    partition_prepared(tmp_path / "prepared", split_path, "fhbench", n_clients, 0.5, 1.0, 2025)
    return RoundTrip(
        served, raw, load_prepared(tmp_path / "prepared"), tmp_path / "prepared", json.loads(split_path.read_text()), list(handler.requests)
    )


def check_split(trip: RoundTrip, n_clients: int = 5) -> None:
    """The split covers valid, disjoint pooled indices with the fhbench equal client sizes."""
    clients = trip.split["clients"]
    assert len(clients) == n_clients
    every = [i for c in clients for s in ("train", "val", "test") for i in c[s]]
    assert len(every) == len(set(every))
    assert 0 <= min(every) and max(every) < len(trip.prepared)
    sizes = {sum(len(c[s]) for s in ("train", "val", "test")) for c in clients}
    assert sizes == {len(trip.prepared) // n_clients}
