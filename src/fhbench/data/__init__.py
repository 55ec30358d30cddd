"""Dataset registry: one module per dataset, each exposing ``DATASET``."""

from __future__ import annotations

from pathlib import Path

from fhbench.data.base import Dataset, write_manifest
from fhbench.registry import LazyRegistry

# Imported on first use: the readers pull in wfdb, mne, soundfile and friends.
DATASETS: LazyRegistry = LazyRegistry(
    {
        name: f"fhbench.data.{name}:DATASET"
        for name in ("organamnist", "organcmnist", "organsmnist", "icbhi", "sprsound", "ptbxl", "adftd", "medabs", "pubmedrct")
    }
)


def get_dataset(key: str) -> Dataset:
    try:
        return DATASETS[key]
    except KeyError:
        raise KeyError(f"unknown dataset {key!r}; registered: {sorted(DATASETS)}") from None


def check_prepare_options(key: str, options: dict) -> None:
    """Fail early, naming the config key, when ``datasets.<key>.prepare`` has an option the
    dataset's :meth:`~fhbench.data.base.Dataset.prepare` does not take."""
    import inspect

    params = inspect.signature(get_dataset(key).prepare).parameters
    accepted = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and n not in ("raw_dir", "out_dir"))]
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    for name in options or {}:
        if name not in accepted:
            raise ValueError(f"datasets.{key}.prepare.{name}: not an option of {key}; it accepts {accepted or 'none'}")


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
