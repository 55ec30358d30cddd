"""HTTPS on 127.0.0.1 for the TLS tests: certificates made with ``cryptography``, served over a
real TLS socket (tests/http_mirror.py's handler wrapped in ``ssl``)."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.http_mirror import RangeRequestHandler


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path, expired: bool = False, self_signed: bool = False) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 (expired, or self-signed, if asked); PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fhbench test CA"))
        .issuer_name(_name("fhbench test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    window = (
        (now - dt.timedelta(days=20), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(days=1), now + dt.timedelta(days=20))
    )
    issuer, signer = (_name("127.0.0.1"), key) if self_signed else (ca.subject, ca_key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(window[0])
        .not_valid_after(window[1])
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(signer, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


@contextmanager
def serve_directory_tls(root: str | Path, cert: Path, key: Path) -> Iterator[tuple[str, type]]:
    """Serve ``root`` over HTTPS on a free port of 127.0.0.1; yields (base URL, handler class)."""
    handler = type("Handler", (RangeRequestHandler,), {"cut_after": None, "requests": []})

    def factory(*args, **kwargs):
        return handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
