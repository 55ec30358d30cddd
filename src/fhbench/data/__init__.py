"""Dataset registry: one module per dataset, each exposing ``DATASET``."""

from __future__ import annotations

from pathlib import Path

from fhbench.data import medabs, organamnist, organcmnist, organsmnist, pubmedrct
from fhbench.data.base import Dataset, write_manifest

DATASETS: dict[str, Dataset] = {
    "organamnist": organamnist.DATASET,
    "organcmnist": organcmnist.DATASET,
    "organsmnist": organsmnist.DATASET,
    "medabs": medabs.DATASET,
    "pubmedrct": pubmedrct.DATASET,
}


def get_dataset(key: str) -> Dataset:
    try:
        return DATASETS[key]
    except KeyError:
        raise KeyError(f"unknown dataset {key!r}; registered: {sorted(DATASETS)}") from None


def acquire(
    key: str,
    raw_dir: str | Path,
    source: str,
    base_url: str | None = None,
    demo_options: dict | None = None,
    part_dir: str | Path | None = None,
) -> None:
    """Fill ``raw_dir`` from the real source (``remote``) or with the demo twin (``demo``)."""
    dataset = get_dataset(key)
    if source == "remote":
        dataset.download(raw_dir, base_url=base_url, part_dir=part_dir)
    elif source == "demo":
        dataset.generate_demo(raw_dir, **(demo_options or {}))
    else:
        raise ValueError(f"datasets.{key}.source must be 'remote' or 'demo', got {source!r}")
    write_manifest(raw_dir, source, base_url)
