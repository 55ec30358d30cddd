"""TLS failures against a real HTTPS server on 127.0.0.1: said plainly, host named, mirror offered, never bypassed."""

from __future__ import annotations

import pytest

from fhbench.data import get_dataset
from fhbench.data.download import DownloadError, RemoteFile, fetch
from tests.conftest import require_module

require_module("cryptography", "it makes the TLS tests' certificates")


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(b"payload" * 1000)
    return folder


def fetch_from(served, certs, tmp_path):
    from tests.tls_mirror import serve_directory_tls

    with serve_directory_tls(served, certs["cert"], certs["key"]) as (base_url, handler):
        try:
            return fetch(
                RemoteFile(f"{base_url}/blob.bin", "blob.bin"), tmp_path / "raw", part_dir=tmp_path / "parts", progress=False, timeout=10
            )
        finally:
            fetch_from.requests = list(handler.requests)


def test_self_signed_certificate_is_refused_naming_host_and_mirror_option(tmp_path, served):
    from tests.tls_mirror import make_certificates

    certs = make_certificates(tmp_path / "certs", self_signed=True)
    with pytest.raises(DownloadError) as error:
        fetch_from(served, certs, tmp_path)
    message = str(error.value)
    assert message.startswith("TLS failure talking to 127.0.0.1 (self-signed certificate)")
    assert "base_url" in message and "--base-url" in message and "verification stays on" in message
    assert fetch_from.requests == [], "no request got through the refused handshake"
    assert not (tmp_path / "raw" / "blob.bin").exists()


def test_expired_certificate_of_a_trusted_ca_is_refused(tmp_path, served, monkeypatch):
    from tests.tls_mirror import make_certificates

    certs = make_certificates(tmp_path / "certs", expired=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["ca"]))  # trust the test CA, as a system store would
    with pytest.raises(DownloadError, match=r"TLS failure talking to 127\.0\.0\.1 \(certificate has expired\).*base_url"):
        fetch_from(served, certs, tmp_path)


def test_valid_certificate_of_a_trusted_ca_downloads(tmp_path, served, monkeypatch):
    """The same server with a valid certificate: verification on, and the file arrives."""
    from tests.tls_mirror import make_certificates

    certs = make_certificates(tmp_path / "certs")
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["ca"]))
    path = fetch_from(served, certs, tmp_path)
    assert path.read_bytes() == (served / "blob.bin").read_bytes()
    assert [r["path"] for r in fetch_from.requests] == ["/blob.bin"]


def test_dataset_download_over_https_with_a_bad_certificate(tmp_path):
    """Through a dataset's own download (ICBHI, whose host's certificate was reported expired)."""
    from tests.tls_mirror import make_certificates, serve_directory_tls

    dataset = get_dataset("icbhi")
    dataset.generate_demo(tmp_path / "mirror", n_patients=1, recordings_per_patient=1, cycles_per_recording=1)
    certs = make_certificates(tmp_path / "certs", self_signed=True)
    with serve_directory_tls(tmp_path / "mirror", certs["cert"], certs["key"]) as (base_url, _):
        with pytest.raises(DownloadError, match=f"TLS failure talking to 127.0.0.1 .*{base_url}/ICBHI_final_database.zip.*base_url"):
            dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
    assert not (tmp_path / "raw" / "ICBHI_final_database.zip").exists()
