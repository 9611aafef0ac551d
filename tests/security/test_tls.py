"""HTTPS: ``clinic server --tls-cert --tls-key`` serves TLS, and a PC trusts only the hospital CA it pins.

Real certificates made here with ``cryptography`` (a hospital CA and a server certificate for 127.0.0.1,
plus an outsider CA with a certificate for the same address), a real server process on loopback, and the
PC's own wiring (``open_runtime`` with a site configuration) making the calls.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.errors import TransientError
from shared.gui.launch import open_runtime
from shared.site import SiteConfig
from tests.support.api import DEMO_PASSWORD
from tests.support.server import ServerProcess


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_pki(folder: Path, label: str) -> tuple[Path, Path, Path]:
    """(server certificate, server key, CA certificate) of a CA named ``label``, server valid for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} CA"))
        .issuer_name(_name(f"{label} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("clinic central API"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    return (
        _write_cert(cert, folder / "server.pem"),
        _write_key(key, folder / "server.key"),
        _write_cert(ca, folder / "ca.pem"),
    )


@pytest.fixture
def tls_server(demo_db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    pki = make_pki(tmp_path / "hospital", "Hospital")
    process = ServerProcess(demo_db_url, tmp_path / "server.log", tls=pki).start()
    yield process, pki[2]
    process.stop()


def _runtime(tmp_path: Path, url: str, ca: Path | None):  # type: ignore[no-untyped-def]
    site = SiteConfig(server_url=url, ca_certificate=str(ca) if ca else "")
    return open_runtime("workstation", site, "zh_CN", tmp_path / f"pc-{ca.parent.name if ca else 'none'}")


def test_a_pc_that_pins_the_hospital_ca_logs_in_over_https(
    tls_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, ca = tls_server
    assert server.url.startswith("https://")
    runtime = _runtime(tmp_path, server.url, ca)
    try:
        assert runtime.transport.health() is not None
        answer = runtime.transport.login(username="nurse1", password=DEMO_PASSWORD, device_id="tls-pc")
        assert answer.token
    finally:
        runtime.shutdown()


def test_a_pc_refuses_a_server_whose_certificate_another_ca_signed(
    tls_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, _ca = tls_server
    outsider_ca = make_pki(tmp_path / "outsider", "Outsider")[2]
    runtime = _runtime(tmp_path, server.url, outsider_ca)
    try:
        with pytest.raises(TransientError) as refused:
            runtime.transport.login(username="nurse1", password=DEMO_PASSWORD, device_id="tls-pc")
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    finally:
        runtime.shutdown()


def test_plain_http_gets_no_answer_from_a_tls_server(tls_server: tuple[ServerProcess, Path]) -> None:
    server, _ca = tls_server
    with pytest.raises(httpx.TransportError):
        httpx.post(
            server.url.replace("https://", "http://") + "/api/v1/auth/login",
            json={"username": "nurse1", "password": DEMO_PASSWORD, "device_id": "x"},
            timeout=5.0,
        )


def test_the_server_refuses_to_start_with_half_a_tls_configuration(tmp_path: Path) -> None:
    cert, _key, _ca = make_pki(tmp_path / "half", "Half")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "server",
            "--db",
            str(tmp_path / "x.db"),
            "--tls-cert",
            str(cert),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--tls-cert and --tls-key go together" in done.stderr
