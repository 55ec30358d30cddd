"""The interface every dataset module implements, and how raw data is acquired."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path

from fhbench.data.download import RemoteFile, fetch, file_digest


class Dataset(ABC):
    """One source dataset: where it comes from, how it is prepared, and its demo twin.

    Subclasses set the class attributes and implement :meth:`remote_files`, :meth:`prepare`
    and :meth:`generate_demo`. ``natural_groups`` names the metadata columns that can define
    natural clients (patients, devices, sites).
    """

    key: str
    modality: str
    class_names: tuple[str, ...]
    natural_groups: tuple[str, ...] = ()
    # The source's published figures (PROTOCOL §1), and the relative tolerance of the rough ones.
    published: dict = {}
    published_tolerance: dict = {}

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def base_info(self) -> dict:
        """The ``info.json`` entries every prepared dataset has; modules add their own."""
        return {"dataset": self.key, "modality": self.modality, "n_classes": self.n_classes, "class_names": list(self.class_names)}

    @abstractmethod
    def remote_files(self) -> list[RemoteFile]:
        """The files of the real source, with their published checksums where known."""

    def download(
        self,
        raw_dir: str | Path,
        base_url: str | None = None,
        part_dir: str | Path | None = None,
        checksums: dict[str, str] | None = None,
    ) -> list[Path]:
        """Fetch every source file into ``raw_dir`` (``base_url`` replaces the real host).

        Unfinished downloads are kept in ``part_dir`` so that a retry resumes them.
        ``checksums`` (file name → md5) replaces the published checksums, for a mirror whose
        files differ from the source's on purpose (the tests' demo twins); files it does not
        name keep the published value.
        """
        remotes = [remote.rebased(base_url) for remote in self.remote_files()]
        if checksums:
            unknown = sorted(set(checksums) - {r.filename for r in remotes})
            if unknown:
                raise KeyError(f"checksums given for {unknown}, which are not files of {self.key}")
            remotes = [replace(r, md5=checksums.get(r.filename, r.md5)) for r in remotes]
        return [fetch(remote, raw_dir, part_dir=part_dir) for remote in remotes]

    @abstractmethod
    def prepare(self, raw_dir: str | Path, out_dir: str | Path, **options) -> None:
        """Turn the raw files into the prepared format (:mod:`fhbench.data.prepared`).

        ``options`` come from the dataset's ``prepare:`` config entry (for example the audio
        clip length); each dataset names the ones it accepts as keyword arguments.
        """

    def source_figures(self, raw_dir: str | Path) -> dict:
        """The figures of :attr:`published` as counted in a raw download (cheap: no audio decoding)."""
        raise NotImplementedError(f"{self.key} does not count its source figures")

    def published_checksums(self, raw_dir: str | Path) -> list[dict]:
        """Rows checking raw files against checksums the source itself publishes (none by default)."""
        return []

    def published_figures(self, labels, metadata) -> dict:
        """The ``info.json`` entry comparing prepared data with :attr:`published`."""
        from fhbench.data.published import compare_figures, prepared_figures

        return compare_figures(self.published, prepared_figures(labels, metadata, self.n_classes), self.published_tolerance)

    @abstractmethod
    def generate_demo(self, raw_dir: str | Path, seed: int = 0, **options) -> None:
        """Write a small twin of the source, in the source's own on-disk format, into ``raw_dir``."""


def write_manifest(raw_dir: str | Path, source: str, origin: str | None) -> None:
    """Record what was fetched (sha256 of every file) so a result names the exact data it used."""
    raw_dir = Path(raw_dir)
    files = {str(p.relative_to(raw_dir)): file_digest(p) for p in sorted(raw_dir.rglob("*")) if p.is_file() and p.name != "MANIFEST.json"}
    manifest = {"source": source, "origin": origin, "sha256": files}
    (raw_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
