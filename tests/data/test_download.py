"""Download infrastructure against a real HTTP server on 127.0.0.1 (tests/http_mirror.py)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fhbench.data import get_dataset
from fhbench.data.download import DownloadError, RemoteFile, extract_archive, fetch


@pytest.fixture
def payload(tmp_path) -> Path:
    """A served folder with one 300 kB file of random bytes (several read chunks are not needed)."""
    served = tmp_path / "served"
    served.mkdir()
    data = np.random.default_rng(0).integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
    (served / "blob.bin").write_bytes(data)
    return served / "blob.bin"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_fetch_verifies_md5_and_places_file(tmp_path, payload, http_mirror):
    data = payload.read_bytes()
    with http_mirror(payload.parent) as (base_url, handler):
        got = fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin", md5(data)), tmp_path / "raw", progress=False)
    assert got == tmp_path / "raw" / "blob.bin"
    assert got.read_bytes() == data
    assert [r["range"] for r in handler.requests] == [None]
    assert not list((tmp_path / "raw").glob("*.part"))


def test_interrupted_download_resumes_with_range_request(tmp_path, payload, http_mirror):
    data = payload.read_bytes()
    remote_name = "blob.bin"
    raw, parts = tmp_path / "raw", tmp_path / "parts"
    with http_mirror(payload.parent, cut_after=100_000) as (base_url, handler):
        # The server drops the connection after 100 kB: an error, the partial file is kept with its record.
        with pytest.raises(DownloadError, match=r"connection closed after 100000 of 300000 bytes"):
            fetch(RemoteFile(f"{base_url}/{remote_name}", remote_name, md5(data)), raw, part_dir=parts, progress=False)
        assert not (raw / remote_name).exists()
        assert (parts / "blob.bin.part").stat().st_size == 100_000
        record = json.loads((parts / "blob.bin.part.json").read_text())
        assert record["size"] == len(data) and record["etag"].startswith('"')
        # The rerun asks only for the rest, if the file is still the one the part began, and ends with the exact bytes.
        handler.cut_after = None
        got = fetch(RemoteFile(f"{base_url}/{remote_name}", remote_name, md5(data)), raw, part_dir=parts, progress=False)
    assert [(r["range"], r["if_range"]) for r in handler.requests] == [(None, None), ("bytes=100000-", record["etag"])]
    assert got.read_bytes() == data
    assert not (parts / "blob.bin.part").exists() and not (parts / "blob.bin.part.json").exists()


@pytest.mark.parametrize("honor_if_range", [True, False], ids=["server-honours-if-range", "server-ignores-if-range"])
def test_part_of_a_file_that_changed_on_the_server_is_never_spliced(tmp_path, payload, http_mirror, honor_if_range):
    """Issue 23: without a checksum, a stale part used to be completed with the new file's tail, and acquired."""
    raw, parts = tmp_path / "raw", tmp_path / "parts"
    with http_mirror(payload.parent, honor_if_range=honor_if_range) as (base_url, handler):
        handler.cut_after = 100_000
        remote = RemoteFile(f"{base_url}/blob.bin", "blob.bin")  # no checksum published
        with pytest.raises(DownloadError, match="partial data kept"):
            fetch(remote, raw, part_dir=parts, progress=False)
        new = np.random.default_rng(1).integers(0, 256, size=250_000, dtype=np.uint8).tobytes()
        payload.write_bytes(new)  # a new release: another size, another ETag
        handler.cut_after = None
        got = fetch(remote, raw, part_dir=parts, progress=False)
    assert got.read_bytes() == new
    ranges = [r["range"] for r in handler.requests]
    # Honoured, If-Range turns the resumed request into the whole new file; ignored, the 206
    # answer's size differs from the recorded one and the file is fetched anew.
    assert ranges == ([None, "bytes=100000-"] if honor_if_range else [None, "bytes=100000-", None])


def test_part_without_validators_starts_over(tmp_path, payload, http_mirror):
    """A server without ETag or Last-Modified cannot prove a part is of the same file: no resume."""
    data = payload.read_bytes()
    raw, parts = tmp_path / "raw", tmp_path / "parts"
    with http_mirror(payload.parent, cut_after=100_000, validators=False) as (base_url, handler):
        remote = RemoteFile(f"{base_url}/blob.bin", "blob.bin")
        with pytest.raises(DownloadError, match="partial data kept"):
            fetch(remote, raw, part_dir=parts, progress=False)
        handler.cut_after = None
        assert fetch(remote, raw, part_dir=parts, progress=False).read_bytes() == data
    assert [r["range"] for r in handler.requests] == [None, None]


@pytest.mark.parametrize(
    "page,culprit",
    [
        ((200, "text/html; charset=utf-8", b"<html><body>Please log in</body></html>"), "HTML page"),
        ((200, "application/octet-stream", b"\n  <!DOCTYPE html><html>Not found</html>"), "HTML page"),
        ((200, "application/octet-stream", b""), "empty file"),
    ],
    ids=["html-content-type", "html-body", "empty-body"],
)
def test_html_page_or_empty_answer_is_not_saved_as_data(tmp_path, payload, http_mirror, page, culprit):
    raw, parts = tmp_path / "raw", tmp_path / "parts"
    with http_mirror(payload.parent, pages={"/blob.bin": page}) as (base_url, _):
        with pytest.raises(DownloadError, match=culprit) as error:
            fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin"), raw, part_dir=parts, progress=False)
    assert f"{base_url}/blob.bin" in str(error.value) and "no data was kept" in str(error.value)
    assert not (raw / "blob.bin").exists() and not list(parts.iterdir())


def test_interrupted_download_without_checksum_is_not_taken_as_complete(tmp_path, payload, http_mirror):
    with http_mirror(payload.parent, cut_after=1234) as (base_url, _):
        with pytest.raises(DownloadError):
            fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin"), tmp_path / "raw", progress=False)
    assert not (tmp_path / "raw" / "blob.bin").exists()


def test_checksum_mismatch_names_url_and_manual_place(tmp_path, payload, http_mirror):
    raw = tmp_path / "raw"
    with http_mirror(payload.parent) as (base_url, _):
        url = f"{base_url}/blob.bin"
        with pytest.raises(DownloadError) as error:
            fetch(RemoteFile(url, "blob.bin", "0" * 32), raw, progress=False)
    message = str(error.value)
    assert url in message and "checksum mismatch" in message
    assert str(raw / "blob.bin") in message  # where a manually downloaded copy goes
    assert not (raw / "blob.bin").exists()
    assert not list(raw.glob("*.part"))


def test_unreachable_host_names_url(tmp_path):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    url = "http://127.0.0.1:9/nothing.npz"
    with pytest.raises(DownloadError, match="could not download http://127.0.0.1:9/nothing.npz"):
        fetch(RemoteFile(url, "nothing.npz"), tmp_path / "raw", progress=False, timeout=5)


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n" * 1000)
    (root / "sub" / "b.txt").write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return root


def zip_archive(src: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(src))
    return out


def sevenzip_archive(src: Path, out: Path) -> Path:
    import py7zr

    with py7zr.SevenZipFile(out, "w") as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, str(f.relative_to(src)))
    return out


@pytest.mark.parametrize("make_archive", [zip_archive, sevenzip_archive], ids=["zip", "7z"])
def test_extract_archive_roundtrip(tmp_path, make_archive):
    src = make_tree(tmp_path / "src")
    archive = make_archive(src, tmp_path / ("x.zip" if make_archive is zip_archive else "x.7z"))
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "a.txt").read_text() == (src / "a.txt").read_text()
    assert (out / "sub" / "b.txt").read_bytes() == (src / "sub" / "b.txt").read_bytes()


@pytest.mark.parametrize("make_archive", [zip_archive, sevenzip_archive], ids=["zip", "7z"])
def test_truncated_archive_names_file_and_leaves_destination(tmp_path, make_archive):
    src = make_tree(tmp_path / "src")
    archive = make_archive(src, tmp_path / ("x.zip" if make_archive is zip_archive else "x.7z"))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("previous content")
    with pytest.raises(DownloadError, match=f"cannot unpack {archive}"):
        extract_archive(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    assert (dest / "keep.txt").read_text() == "previous content"
    # No temporary folder is left beside the destination either.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src", archive.name, "dest"])


def test_organamnist_real_path_rejects_a_file_with_another_checksum(tmp_path, http_mirror):
    """The real remote list (URL and md5 from medmnist.INFO) served from loopback: the demo twin
    cannot match Zenodo's md5, so the download must stop, naming the URL, and keep nothing."""
    dataset = get_dataset("organamnist")
    served = tmp_path / "served"
    dataset.generate_demo(served, n_train=20, n_val=5, n_test=10)
    published = dataset.remote_files()[0]
    assert published.url.startswith("https://zenodo.org/") and len(published.md5) == 32
    raw = tmp_path / "raw"
    with http_mirror(served) as (base_url, _):
        with pytest.raises(DownloadError) as error:
            dataset.download(raw, base_url=base_url, part_dir=tmp_path / "parts")
    message = str(error.value)
    assert f"{base_url}/organamnist_224.npz" in message and published.md5 in message
    # The manual copy goes beside the partial downloads: the workflow deletes the raw folder.
    assert str(tmp_path / "parts" / "organamnist_224.npz") in message
    assert not (raw / "organamnist_224.npz").exists()
    assert not list((tmp_path / "parts").glob("*"))


def test_organamnist_mirror_with_its_own_checksum(tmp_path, http_mirror):
    """Same code path with the mirror's checksum given explicitly: the file arrives verified."""
    dataset = get_dataset("organamnist")
    served = tmp_path / "served"
    dataset.generate_demo(served, n_train=20, n_val=5, n_test=10)
    digest = md5((served / "organamnist_224.npz").read_bytes())
    with http_mirror(served) as (base_url, handler):
        (path,) = dataset.download(tmp_path / "raw", base_url=base_url, checksums={"organamnist_224.npz": digest})
    assert path.read_bytes() == (served / "organamnist_224.npz").read_bytes()
    assert handler.requests[0]["path"] == "/organamnist_224.npz"
    with pytest.raises(KeyError, match="not files of organamnist"):
        dataset.download(tmp_path / "raw", base_url=base_url, checksums={"other.npz": digest})


# --------------------------------------------------------------------------- downloads a user can rescue (issue 12)


def test_part_without_its_record_is_discarded_and_fetched_anew(tmp_path, payload, http_mirror):
    """A .part with nothing saying which file it began (longer than the file, here) is never resumed."""
    data = payload.read_bytes()
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "blob.bin.part").write_bytes(b"x" * (len(data) + 10))
    with http_mirror(payload.parent) as (base_url, handler):
        got = fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin", md5(data)), tmp_path / "raw", part_dir=parts, progress=False)
    assert got.read_bytes() == data
    assert [r["range"] for r in handler.requests] == [None]
    assert not (parts / "blob.bin.part").exists()


def test_part_recorded_for_another_version_is_fetched_anew(tmp_path, payload, http_mirror):
    """A part whose record names another ETag: the server answers If-Range with the whole file."""
    data = payload.read_bytes()
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "blob.bin.part").write_bytes(b"\0" * 1000)  # a prefix of some other file
    with http_mirror(payload.parent) as (base_url, handler):
        url = f"{base_url}/blob.bin"
        (parts / "blob.bin.part.json").write_text(json.dumps({"url": url, "etag": '"old-version"', "size": len(data)}))
        got = fetch(RemoteFile(url, "blob.bin", md5(data)), tmp_path / "raw", part_dir=parts, progress=False)
    assert got.read_bytes() == data
    assert [(r["range"], r["if_range"]) for r in handler.requests] == [("bytes=1000-", '"old-version"')]


def test_manual_copy_where_the_message_says_is_used(tmp_path, payload):
    """Offline: the error names the place for a manual copy; a verified copy put there is used, a wrong one refused."""
    data = payload.read_bytes()
    raw, parts = tmp_path / "raw", tmp_path / "parts"
    remote = RemoteFile("http://127.0.0.1:9/blob.bin", "blob.bin", md5(data))
    with pytest.raises(DownloadError) as error:
        fetch(remote, raw, part_dir=parts, progress=False, timeout=5)
    message = str(error.value)
    assert "no data was kept" in message and "partial data kept" not in message
    place = Path(message.split("place a manually downloaded copy at ")[1].split()[0])
    assert place == parts / "blob.bin"
    place.write_bytes(data[:-1] + b"!")
    with pytest.raises(DownloadError, match=r"manual copy of http://127.0.0.1:9/blob.bin has md5 .*expected"):
        fetch(remote, raw, part_dir=parts, progress=False, timeout=5)
    assert place.exists()  # a copy the user placed is never deleted
    place.write_bytes(data)
    assert fetch(remote, raw, part_dir=parts, progress=False, timeout=5).read_bytes() == data


def test_credentials_come_from_netrc_or_env_and_never_appear(tmp_path, payload, http_mirror, monkeypatch):
    import base64

    data = payload.read_bytes()
    netrc_file = tmp_path / "netrc"
    with http_mirror(payload.parent) as (base_url, handler):
        netrc_file.write_text("machine 127.0.0.1 login alice password n3trc-pw\n")
        netrc_file.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc_file))
        fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin", md5(data)), tmp_path / "a", progress=False)
        monkeypatch.setenv("FHBENCH_DOWNLOAD_AUTH", "bob:env-pw")
        fetch(RemoteFile(f"{base_url}/blob.bin", "blob.bin", md5(data)), tmp_path / "b", progress=False)
    auth = [base64.b64decode(r["auth"].split()[1]).decode() for r in handler.requests]
    assert auth == ["alice:n3trc-pw", "bob:env-pw"]
    # A URL that carries a password (a user's mirror) is fetched without showing it.
    monkeypatch.delenv("FHBENCH_DOWNLOAD_AUTH")
    with pytest.raises(DownloadError) as error:
        fetch(RemoteFile("http://carol:url-pw@127.0.0.1:9/blob.bin", "blob.bin", md5(data)), tmp_path / "c", progress=False, timeout=5)
    assert "url-pw" not in str(error.value) and "127.0.0.1:9/blob.bin" in str(error.value)
