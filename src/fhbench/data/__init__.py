"""Dataset registry: one module per dataset, each exposing ``DATASET``."""

from __future__ import annotations

from pathlib import Path

from fhbench.data.base import Dataset, write_manifest
from fhbench.registry import LazyRegistry

# Imported on first use: the readers pull in wfdb, mne, soundfile and friends. Installed
# distributions add theirs under the entry-point group fhbench.datasets (docs/extending.md).
DATASETS: LazyRegistry = LazyRegistry(
    {
        name: f"fhbench.data.{name}:DATASET"
        for name in ("organamnist", "organcmnist", "organsmnist", "icbhi", "sprsound", "ptbxl", "adftd", "medabs", "pubmedrct")
    },
    group="fhbench.datasets",
    base="fhbench.data.base:Dataset",
    name_attribute="key",
)


def get_dataset(key: str) -> Dataset:
    try:
        return DATASETS[key]
    except KeyError:
        raise KeyError(f"unknown dataset {key!r}; registered: {sorted(DATASETS)}") from None


def check_options(key: str, kind: str, options: dict | None, where: str | None = None) -> None:
    """Fail early, naming the key, on ``datasets.<key>.<kind>`` options (kind: ``demo`` or ``prepare``) that the
    dataset does not take or whose values the config schema refuses; ``where`` names them for the user."""
    import inspect

    from fhbench.config_values import check_options as check_schema
    from fhbench.config_values import dataset_options_definition

    where = where or f"datasets.{key}.{kind}"
    definition = dataset_options_definition(key, kind)
    if definition is not None:
        check_schema(where, options or {}, definition)
    dataset = get_dataset(key)
    params = inspect.signature(dataset.prepare if kind == "prepare" else dataset.generate_demo).parameters
    skip = ("raw_dir", "out_dir")
    accepted = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and n not in skip)]
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    for name in options or {}:
        if name not in accepted:
            raise ValueError(f"{where}.{name}: not an option of {key}; it accepts {accepted or 'none'}")


def check_prepare_options(key: str, options: dict, where: str | None = None) -> None:
    """:func:`check_options` of ``datasets.<key>.prepare``."""
    check_options(key, "prepare", options, where)


def acquire(
    key: str,
    raw_dir: str | Path,
    source: str,
    base_url: str | None = None,
    demo_options: dict | None = None,
    part_dir: str | Path | None = None,
) -> None:
    """Fill ``raw_dir`` from the real source (``remote``) or with the demo twin (``demo``).

    ``raw_dir`` appears complete (MANIFEST.json included) or not at all. Partial downloads and
    hand-placed copies live in ``part_dir`` (default ``<raw_dir>.downloads``), which survives a
    failure so that a rerun resumes or uses them; left empty, it is removed.
    """
    from fhbench.io import atomic_path

    dataset = get_dataset(key)
    if source not in ("remote", "demo"):
        raise ValueError(f"datasets.{key}.source must be 'remote' or 'demo', got {source!r}")
    raw_dir = Path(raw_dir)
    part_dir = Path(part_dir) if part_dir else raw_dir.with_name(raw_dir.name + ".downloads")
    existed = part_dir.exists()
    try:
        with atomic_path(raw_dir) as tmp:
            tmp.mkdir()
            if source == "remote":
                dataset.download(tmp, base_url=base_url, part_dir=part_dir)
            else:
                dataset.generate_demo(tmp, **(demo_options or {}))
            write_manifest(tmp, source, base_url)
    finally:
        if not existed and part_dir.is_dir() and not any(part_dir.iterdir()):
            part_dir.rmdir()
