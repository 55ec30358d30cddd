"""Fetching source files: resumable HTTP download, checksum verification, atomic placement."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A source file could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset's source: where it lives and how to check it."""

    url: str
    filename: str
    md5: str | None = None

    def rebased(self, base_url: str | None) -> "RemoteFile":
        """The same file under another base URL (a mirror, or the test server on 127.0.0.1)."""
        if not base_url:
            return self
        return RemoteFile(url=base_url.rstrip("/") + "/" + self.filename, filename=self.filename, md5=self.md5)


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(
    remote: RemoteFile, dest_dir: str | Path, part_dir: str | Path | None = None, timeout: float = 60.0, progress: bool = True
) -> Path:
    """Download ``remote`` into ``dest_dir``, resuming a partial ``.part`` file if one exists.

    Partial data lives in ``part_dir`` (default ``dest_dir``), which should survive a failed job
    so a rerun resumes. The file appears under its final name only once complete and verified; a
    checksum mismatch removes the partial file and raises, naming the URL and where a manual
    copy can be placed.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / remote.filename
    final.parent.mkdir(parents=True, exist_ok=True)  # filenames may hold a relative path
    if final.exists() and (remote.md5 is None or file_digest(final, "md5") == remote.md5):
        return final
    part_dir = Path(part_dir) if part_dir else dest_dir
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / (remote.filename + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if offset and response.status != 206:  # server ignored the range: start over
                offset = 0
            total = response.headers.get("Content-Length")
            total = int(total) + offset if total is not None else None
            with open(part, "ab" if offset else "wb") as out:
                done = offset
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    done += len(block)
                    if progress and total:
                        print(f"\r{remote.filename}: {done / total:6.1%} of {total / 1e6:.1f} MB", end="", file=sys.stderr)
            if progress and total:
                print(file=sys.stderr)
            # http.client ends a body early without an error when the server drops the
            # connection; a short file must stay a .part file so the rerun resumes it.
            if total is not None and done < total:
                raise DownloadError(
                    f"could not download {remote.url}: connection closed after {done} of {total} bytes. "
                    f"Partial data kept in {part} (rerun to resume), or place a manually downloaded copy at {final}"
                )
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        tls = tls_failure(exc)
        if tls is not None:
            raise DownloadError(tls_message(remote.url, tls)) from exc
        raise DownloadError(
            f"could not download {remote.url}: {exc}. Partial data kept in {part} (rerun to resume), "
            f"or place a manually downloaded copy at {final}"
        ) from exc
    if remote.md5 is not None:
        got = file_digest(part, "md5")
        if got != remote.md5:
            part.unlink()
            raise DownloadError(
                f"checksum mismatch for {remote.url}: md5 {got}, expected {remote.md5}. "
                f"The download was removed; place a verified copy at {final}"
            )
    os.replace(part, final)
    return final


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a failed request (urllib wraps it in a ``URLError``), or None."""
    for candidate in (exc, getattr(exc, "reason", None), exc.__cause__, exc.__context__):
        if isinstance(candidate, ssl.SSLError):
            return candidate
    return None


def tls_message(url: str, error: ssl.SSLError) -> str:
    """Say that TLS failed, with which host, and the way out: a mirror through ``base_url``.

    Verification is never turned off here: a host whose certificate cannot be checked (the
    ICBHI site's has been reported expired) is replaced by a mirror the user trusts.
    """
    host = urllib.parse.urlsplit(url).hostname
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
    return (
        f"TLS failure talking to {host} ({reason}) while downloading {url}. Certificate verification stays on; "
        f"download the files from a mirror you trust by setting the dataset's base_url "
        f"(datasets.<name>.base_url in the config, or fhbench acquire --base-url URL), or place manually downloaded copies in the raw folder"
    )


def copy_local(source: str | Path, dest_dir: str | Path) -> Path:
    """Place an already downloaded file (a manual copy) into the raw folder."""
    dest = Path(dest_dir) / Path(source).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, dest)
    return dest


def extract_archive(archive: str | Path, dest_dir: str | Path) -> Path:
    """Unpack a .zip/.tar(.gz)/.7z archive into ``dest_dir`` atomically.

    Everything is unpacked into a temporary sibling folder and moved into place only when the
    whole archive was read; a truncated or corrupt archive raises naming the file and leaves
    ``dest_dir`` untouched.
    """
    from fhbench.io import atomic_path

    archive = Path(archive)
    with atomic_path(dest_dir) as tmp:
        try:
            if archive.suffix == ".7z":
                import py7zr

                with py7zr.SevenZipFile(archive) as z:
                    z.extractall(tmp)
            else:
                shutil.unpack_archive(str(archive), str(tmp))
        except Exception as exc:  # zipfile, tarfile and py7zr each raise their own types
            raise DownloadError(f"cannot unpack {archive}: {type(exc).__name__}: {exc}. Delete it and download again") from exc
    return Path(dest_dir)
