"""Fetching sources made of many files listed by an index (PhysioNet, OpenNeuro, GitHub trees).

Each file still goes through :func:`fhbench.data.download.fetch` (resumable ``.part`` files,
final name only when complete); this module only runs those fetches a few at a time, prints
progress lines, and checks published sha256 sums where the source has them.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from fhbench.data.download import DownloadError, RemoteFile, fetch, file_digest


def fetch_listed(
    remotes: list[RemoteFile],
    raw_dir: str | Path,
    part_dir: str | Path | None = None,
    workers: int = 8,
    sha256: dict[str, str] | None = None,
    label: str = "files",
    published: dict[str, dict] | None = None,
) -> list[Path]:
    """Fetch every file of ``remotes`` into ``raw_dir`` (keeping each ``filename``'s sub-folders).

    With a ``part_dir``, finished files wait in ``part_dir/complete`` until the whole list is
    fetched and only then move into ``raw_dir``: Snakemake deletes the output folder of a failed
    job, and the staged files (like the ``.part`` files) survive for the retry to resume from.
    Files already complete in either place are skipped. When ``sha256`` maps a filename to its
    published digest, or ``published`` to its published ``size`` and git blob id (``git_sha1``,
    as a git tree listing gives them), a mismatching file is removed and a
    :class:`DownloadError` names it.
    """
    raw_dir = Path(raw_dir)
    stage = Path(part_dir) / "complete" if part_dir else raw_dir
    total = len(remotes)
    every = max(1, total // 20)

    def one(remote: RemoteFile) -> Path:
        placed = raw_dir / remote.filename
        path = placed if placed.exists() else fetch(remote, stage, part_dir=part_dir, progress=False)
        expected = dict((published or {}).get(remote.filename, {}))
        if (sha256 or {}).get(remote.filename) is not None:
            expected["sha256"] = sha256[remote.filename]
        for kind, value in expected.items():
            got = {"size": lambda: path.stat().st_size, "sha256": lambda: file_digest(path), "git_sha1": lambda: git_blob_sha1(path)}[
                kind
            ]()
            if got != value:
                path.unlink()
                raise DownloadError(
                    f"checksum mismatch for {remote.url}: {kind} {got}, expected {value} as published. "
                    f"The download was removed; place a verified copy at {path}"
                )
        return path

    paths = []
    # Threads, not processes: the work is waiting on the network.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, path in enumerate(pool.map(one, remotes), start=1):
            paths.append(path)
            if done % every == 0 or done == total:
                print(f"{label}: {done}/{total} fetched", file=sys.stderr)
    placed = []
    for remote, path in zip(remotes, paths):
        dest = raw_dir / remote.filename
        if path != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        placed.append(dest)
    return placed


def git_blob_sha1(path: str | Path) -> str:
    """The id git gives a file's content (sha1 of ``blob <size>\\0`` and the bytes), as a tree listing publishes it."""
    import hashlib

    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_sha256sums(path: str | Path) -> dict[str, str]:
    """Read a ``sha256sum``-style file (``<digest>  <relative path>`` per line)."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def git_tree_blobs(
    listing: str | Path,
    subtree: Callable[[str], RemoteFile],
    raw_dir: str | Path,
    wanted: tuple[str, ...],
    part_dir: str | Path | None = None,
) -> dict[str, dict]:
    """The files (blobs) under the ``wanted`` folders of a GitHub tree listing: path → its published
    ``size`` and git blob id ``git_sha1`` (for :func:`fetch_listed`'s checks), in path order.

    ``listing`` is the saved answer of ``git/trees/<ref>?recursive=1``. GitHub cuts that answer
    for large repositories and says so with ``"truncated": true``; then the tree is walked one
    folder at a time with non-recursive listings (``subtree(sha)`` is the remote file of tree
    ``sha``), descending only into the wanted folders and their parents. A folder whose own
    listing is truncated stops the download, naming it.
    """
    tree = json.loads(Path(listing).read_text())
    if "tree" not in tree:
        raise DownloadError(f"{listing} is not a git tree listing (no 'tree' key)")
    wanted = tuple(w.rstrip("/") + "/" for w in wanted)
    if not tree.get("truncated"):
        return _published({e["path"]: e for e in tree["tree"] if e.get("type") == "blob" and e["path"].startswith(wanted)})
    print(f"{listing}: the listing is truncated; walking the wanted folders one by one", file=sys.stderr)

    def inside(path: str) -> bool:  # a wanted folder, inside one, or on the way to one
        return any((path + "/").startswith(w) or w.startswith(path + "/") for w in wanted)

    blobs, pending = {}, [("", tree.get("sha"))]
    while pending:
        folder, sha = pending.pop()
        if not sha:
            raise DownloadError(f"{listing}: no tree sha for folder {folder or '/'!r}; cannot complete the truncated listing")
        path = fetch(subtree(sha), raw_dir, part_dir=part_dir, progress=False)
        answer = json.loads(path.read_text())
        if answer.get("truncated"):
            raise DownloadError(
                f"the listing of folder {folder or '/'!r} ({subtree(sha).url}) is truncated even without recursion; "
                f"fetch that folder by hand into {raw_dir}"
            )
        for entry in answer["tree"]:
            full = f"{folder}/{entry['path']}" if folder else entry["path"]
            if entry.get("type") == "tree" and inside(full):
                pending.append((full, entry.get("sha")))
            elif entry.get("type") == "blob" and full.startswith(wanted):
                blobs[full] = entry
    return _published(blobs)


def _published(entries: dict[str, dict]) -> dict[str, dict]:
    """What a tree listing publishes of each blob (GitHub's REST API: ``size`` in bytes, ``sha`` the git blob id)."""
    checks = {}
    for path in sorted(entries):
        entry = entries[path]
        checks[path] = {k: v for k, v in (("size", entry.get("size")), ("git_sha1", entry.get("sha"))) if v is not None}
    return checks
