"""Fetching source files: resumable HTTP download, checksum verification, atomic placement."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import ssl
import stat
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fhbench.errors import DownloadError  # noqa: F401 - raised here, importable from here as before

CHUNK = 1 << 20


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


def manual_copy_path(remote: RemoteFile, dest_dir: str | Path, part_dir: str | Path | None = None) -> Path:
    """Where a hand-downloaded copy of ``remote`` is picked up: beside the partial downloads.

    The workflow's raw folder is an output Snakemake deletes before acquisition, so a copy
    placed there would be lost (or, in a folder left behind, never checked); ``part_dir``
    (``resources/downloads/<dataset>/``) survives, and the next acquisition verifies and uses it.
    """
    return Path(part_dir or dest_dir) / remote.filename


def download_auth(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without credentials, and the Authorization header for its host, if any.

    Credentials come from ``$FHBENCH_DOWNLOAD_AUTH`` (``user:password``), else from the netrc
    file (``$NETRC`` or ``~/.netrc``) entry of the host, else from the URL itself; they are sent
    as HTTP basic auth and never appear in a message or log (:func:`fhbench.errors.redact`).
    """
    import base64
    import netrc
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    clean = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() if parts.hostname else url
    user, password = parts.username, parts.password
    if os.environ.get("FHBENCH_DOWNLOAD_AUTH"):
        user, _, password = os.environ["FHBENCH_DOWNLOAD_AUTH"].partition(":")
    elif parts.hostname:
        try:
            entry = netrc.netrc(os.environ.get("NETRC")).authenticators(parts.hostname)
        except (OSError, netrc.NetrcParseError):
            entry = None
        if entry:
            user, _, password = entry
    if not user:
        return clean, {}
    token = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password or '')}".encode()).decode()
    return clean, {"Authorization": f"Basic {token}"}


def _use_manual_copy(remote: RemoteFile, manual: Path, final: Path) -> Path:
    """Place a hand-downloaded copy after checking it against the published checksum."""
    from fhbench.errors import redact

    if remote.md5 is not None and (got := file_digest(manual, "md5")) != remote.md5:
        raise DownloadError(
            f"{manual}: manual copy of {redact(remote.url)} has md5 {got}, expected {remote.md5}; replace it with a complete, verified copy"
        )
    if manual != final:
        try:
            os.link(manual, final)  # no second copy of a large archive
        except OSError:
            shutil.copy2(manual, final)
    return final


class PartRecord:
    """What a ``.part`` file continues: the URL and the server's validators, kept beside it as ``<part>.json``.

    A resumed download must prove it continues the same file (RFC 9110 §13.1.5): the request
    carries ``If-Range`` with the strong ETag (else the Last-Modified date) recorded when the
    partial file was started, and the answer must start at the bytes we hold and announce the
    total size recorded then. A part without its record, or whose server gave no validator,
    cannot prove anything and is downloaded again from the start.
    """

    def __init__(self, part: Path):
        self.part, self.path = part, part.with_name(part.name + ".json")

    def read(self) -> dict | None:
        import json

        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write(self, url: str, response, total: int | None) -> None:
        import json

        etag = response.headers.get("ETag")
        record = {"url": url, "etag": etag, "last_modified": response.headers.get("Last-Modified"), "size": total}
        self.path.write_text(json.dumps(record) + "\n")

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def resumable(self, url: str) -> tuple[int, dict[str, str]]:
        """Bytes of the part that may be resumed and the headers asking for the rest; (0, {}) after discarding it."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        if not offset:
            self.discard()
            return 0, {}
        record = self.read()
        etag = (record or {}).get("etag")
        validator = etag if etag and not etag.startswith("W/") else (record or {}).get("last_modified")
        size = (record or {}).get("size")
        why = (
            f"no {self.path.name} records which file it began"
            if record is None
            else "it was begun from another URL"
            if record.get("url") != url
            else "its server gave no ETag or Last-Modified to check it against"
            if not validator
            else f"it holds {offset} bytes of a {size}-byte file"
            if isinstance(size, int) and offset >= size
            else None
        )
        if why:
            self.start_over(why)
            return 0, {}
        return offset, {"Range": f"bytes={offset}-", "If-Range": validator}

    def start_over(self, why: str) -> None:
        """Discard the part, saying why (the user sees a download restart from zero)."""
        print(f"{self.part}: not resumed, {why}; downloading the file anew", file=sys.stderr)
        self.discard()

    def continues(self, response, offset: int) -> bool:
        """A 206 answer holds the rest of the recorded file: it starts at ``offset``, same size, same ETag."""
        import re

        record = self.read() or {}
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (response.headers.get("Content-Range") or "").strip())
        if not match or int(match.group(1)) != offset:
            return False
        total = None if match.group(3) == "*" else int(match.group(3))
        if isinstance(record.get("size"), int) and total != record["size"]:
            return False
        etag = response.headers.get("ETag")
        return not (etag and record.get("etag") and etag != record["etag"])


HTML_STARTS = (b"<!doctype html", b"<html")


def _not_a_data_file(remote: RemoteFile, response, first: bytes) -> str | None:
    """Why a 200 answer is no data file (an HTML page: a login, an error or a landing page), or None."""
    if remote.filename.lower().endswith((".html", ".htm")):
        return None
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind == "text/html" or first.lstrip()[:14].lower().startswith(HTML_STARTS):
        return f"the server answered with an HTML page (Content-Type {kind or 'none'}), not the data file: a login, error or landing page"
    return None


def fetch(
    remote: RemoteFile, dest_dir: str | Path, part_dir: str | Path | None = None, timeout: float = 60.0, progress: bool = True
) -> Path:
    """Download ``remote`` into ``dest_dir``, resuming a partial ``.part`` file when it provably continues the same file.

    Partial data lives in ``part_dir`` (default ``dest_dir``), which should survive a failed job
    so a rerun resumes. A ``.part`` is resumed only under the validators recorded beside it
    (:class:`PartRecord`); one that cannot prove it continues the same file (no record, no
    validator, another ETag or size, HTTP 416, or a resumed file failing its checksum) is
    discarded and the file fetched anew, once. An answer that is an HTML page or empty is
    refused, never saved as the data file. A manual copy at :func:`manual_copy_path` is used
    instead of downloading, after the same checksum check. The file appears under its final
    name only once complete and verified; errors name the URL (credentials redacted) and where
    a manual copy can be placed.
    """
    from fhbench.errors import redact

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / remote.filename
    final.parent.mkdir(parents=True, exist_ok=True)  # filenames may hold a relative path
    if final.exists() and (remote.md5 is None or file_digest(final, "md5") == remote.md5):
        return final
    manual = manual_copy_path(remote, dest_dir, part_dir)
    if manual != final and manual.is_file():
        return _use_manual_copy(remote, manual, final)
    part_dir = Path(part_dir) if part_dir else dest_dir
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / (remote.filename + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    record = PartRecord(part)
    url, headers = download_auth(remote.url)
    shown = redact(url)
    place = f"place a manually downloaded copy at {manual}"
    for fresh in (False, True):
        if fresh:
            record.discard()
        offset, resume = record.resumable(url)
        request = urllib.request.Request(url, headers={**headers, **resume})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if offset and response.status == 206 and not record.continues(response, offset):
                    record.start_over(f"the server's answer to resume it is part of another version of {remote.filename}")
                    continue  # the server's bytes belong to another file: start over
                if offset and response.status != 206:  # a whole file: the file changed (If-Range), or no ranges
                    print(f"{part}: not resumed, the server sent the whole file (it changed since, or serves no ranges)", file=sys.stderr)
                    offset = 0
                total = response.headers.get("Content-Length")
                total = int(total) + offset if total is not None else None
                if not offset:
                    record.write(url, response, total)
                with open(part, "ab" if offset else "wb") as out:
                    done = offset
                    for block in iter(lambda: response.read(CHUNK), b""):
                        if done == 0 and (why := _not_a_data_file(remote, response, block)):
                            out.close()
                            record.discard()
                            raise DownloadError(f"could not download {shown}: {why}; no data was kept; {place}")
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
                        f"could not download {shown}: connection closed after {done} of {total} bytes; "
                        f"partial data kept in {part} (rerun to resume), or {place}"
                    )
                if done == 0:
                    record.discard()
                    raise DownloadError(f"could not download {shown}: the server sent an empty file; no data was kept; {place}")
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset and not fresh:  # the .part is not a prefix of this file: start over
                continue
            raise DownloadError(f"could not download {shown}: HTTP {exc.code} {exc.reason}; {_kept(record)}{place}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            tls = tls_failure(exc)
            if tls is not None:
                raise DownloadError(tls_message(shown, tls, place)) from None
            reason = getattr(exc, "reason", None) or exc
            raise DownloadError(f"could not download {shown}: {redact(reason)}; {_kept(record)}{place}") from None
        if remote.md5 is not None:
            got = file_digest(part, "md5")
            if got != remote.md5:
                record.discard()
                if offset and not fresh:  # resumed onto stale bytes: one fresh download
                    continue
                raise DownloadError(
                    f"checksum mismatch for {shown}: md5 {got}, expected {remote.md5}; the download was removed; "
                    f"{place} (verified against the same md5)"
                )
        break
    os.replace(part, final)
    record.path.unlink(missing_ok=True)
    return final


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a failed request (urllib wraps it in a ``URLError``), or None."""
    for candidate in (exc, getattr(exc, "reason", None), exc.__cause__, exc.__context__):
        if isinstance(candidate, ssl.SSLError):
            return candidate
    return None


def tls_message(url: str, error: ssl.SSLError, place: str = "place manually downloaded copies in the raw folder") -> str:
    """Say that TLS failed, with which host, and the way out: a mirror through ``base_url``.

    Verification is never turned off here: a host whose certificate cannot be checked (the
    ICBHI site's has been reported expired) is replaced by a mirror the user trusts.
    """
    host = urllib.parse.urlsplit(url).hostname
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
    return (
        f"TLS failure talking to {host} ({reason}) while downloading {url}. Certificate verification stays on; "
        f"download the files from a mirror you trust by setting the dataset's base_url "
        f"(datasets.<name>.base_url in the config, or fhbench acquire --base-url URL), or {place}"
    )


def _kept(record: PartRecord) -> str:
    """What the message says about partial data: only what is really there."""
    if record.part.exists() and record.part.stat().st_size:
        return f"partial data kept in {record.part} (rerun to resume), or "
    record.discard()
    return "no data was kept; rerun when the host is reachable, or "


class UnsafeArchiveError(ValueError):
    """An archive entry that would land outside the folder it is unpacked into, or is no plain file or folder."""


def _check_member_name(name: str) -> None:
    """Refuse an absolute entry name or one climbing out with ``..`` (zip and 7z readers would rewrite or follow it)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"entry {name!r} has an absolute path")
    if ".." in parts:
        raise UnsafeArchiveError(f"entry {name!r} climbs out of the folder with '..'")


def check_tar_member(member: tarfile.TarInfo, dest_path: str) -> None:
    """The checks of Python's ``tarfile.data_filter`` (3.12, backported to 3.11.4), made explicitly.

    Refused: absolute names, names or link targets resolving outside ``dest_path`` (resolved on
    the folder as unpacked so far, so a file written through a link unpacked earlier is caught),
    absolute link targets, devices, pipes and other special files.
    """
    dest = os.path.realpath(dest_path)
    _check_member_name(member.name)
    target = os.path.realpath(os.path.join(dest, member.name))
    if os.path.commonpath([dest, target]) != dest:
        raise UnsafeArchiveError(f"entry {member.name!r} would be written outside the folder")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(f"entry {member.name!r} is a device, pipe or other special file")
    if member.issym() or member.islnk():
        if os.path.isabs(member.linkname):
            raise UnsafeArchiveError(f"link {member.name!r} points to the absolute path {member.linkname!r}")
        base = os.path.dirname(target) if member.issym() else dest
        link = os.path.realpath(os.path.join(base, member.linkname))
        if os.path.commonpath([dest, link]) != dest:
            raise UnsafeArchiveError(f"link {member.name!r} points outside the folder ({member.linkname!r})")


def _unpack_tar(archive: Path, dest: Path, explicit: bool = False) -> None:
    """Python's ``data`` extraction filter where the interpreter has it; else each member checked
    by :func:`check_tar_member` right before it is unpacked, and unpacked without its owner or
    set-uid/set-gid/sticky bits."""
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "data_filter") and not explicit:
            for member in t.getmembers():  # refused, as in zip and 7z archives (the filter would strip a leading /)
                _check_member_name(member.name)
            t.extractall(dest, filter="data")
            return
        trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        for member in t:
            check_tar_member(member, str(dest))
            if member.mode is not None:
                member.mode &= 0o755
            t.extract(member, dest, set_attrs=not member.issym(), **trusted)


def _unpack(archive: Path, dest: Path, explicit_tar_checks: bool = False) -> None:
    """Unpack into ``dest`` (which exists) under one policy for every format: nothing outside ``dest``,
    no absolute names, no links leading out, no special files."""
    if archive.suffix == ".7z":
        import py7zr

        with py7zr.SevenZipFile(archive) as z:
            for entry in z.list():
                _check_member_name(entry.filename)
                if entry.is_symlink:
                    raise UnsafeArchiveError(f"entry {entry.filename!r} is a symbolic link")
            z.extractall(dest)
    elif archive.suffix == ".zip" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                _check_member_name(info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnsafeArchiveError(f"entry {info.filename!r} is a symbolic link")
            z.extractall(dest)
    else:
        _unpack_tar(archive, dest, explicit_tar_checks)


def extract_archive(archive: str | Path, dest_dir: str | Path, explicit_tar_checks: bool = False) -> Path:
    """Unpack a .zip/.tar(.gz, .bz2, .xz)/.7z archive into ``dest_dir`` atomically and safely.

    Everything is unpacked into a temporary sibling folder and moved into place only when the
    whole archive was read; a truncated or corrupt archive raises naming the file and leaves
    ``dest_dir`` untouched. An entry that would land outside ``dest_dir`` (``../``, an absolute
    path, a link leading out, a file written through such a link) or a device or pipe is refused
    before anything of it is written outside: tar archives go through Python's ``data`` filter
    (or, on an interpreter without it or with ``explicit_tar_checks``, the same checks made by
    :func:`check_tar_member`), zip and 7z entries through the same name checks.
    """
    from fhbench.errors import InputError
    from fhbench.io import atomic_path

    archive = Path(archive)
    with atomic_path(dest_dir) as tmp:
        tmp.mkdir()
        try:
            _unpack(archive, tmp, explicit_tar_checks)
        except (UnsafeArchiveError, getattr(tarfile, "FilterError", UnsafeArchiveError)) as exc:
            raise InputError(
                archive, f"is not safe to unpack: {exc}", "it is not the source's archive; remove it and acquire the data again"
            ) from None
        except Exception as exc:  # zipfile, tarfile and py7zr each raise their own types
            raise DownloadError(f"cannot unpack {archive}: {type(exc).__name__}: {exc}. Delete it and download again") from exc
    return Path(dest_dir)
