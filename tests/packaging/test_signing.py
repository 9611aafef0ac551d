"""The Linux Authenticode step (packaging/sign_osslsigncode.sh) signs real PE files with a test
certificate, and the signatures verify against that certificate's CA. (signtool on Windows is scripted
in packaging/sign_windows.ps1 and not run here.)"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "sign_osslsigncode.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("osslsigncode") is None, reason="osslsigncode is not installed (Debian package osslsigncode)"
)


def a_pe_file() -> Path:
    """A real Windows executable that ships inside pip (distlib's launcher)."""
    import pip

    found = sorted((Path(pip.__file__).parent / "_vendor" / "distlib").glob("t*.exe"))
    if not found:
        pytest.skip("no Windows launcher in this pip to sign")
    return found[0]


def code_signing_pfx(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Clinic Suite Test Signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pfx = folder / "codesign.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"test", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")
        )
    )
    ca = folder / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pfx, ca


def test_every_executable_and_library_of_a_bundle_is_signed(tmp_path: Path) -> None:
    bundle = tmp_path / "clinic-triage"
    (bundle / "_internal" / "PySide6").mkdir(parents=True)
    shutil.copyfile(a_pe_file(), bundle / "clinic-triage.exe")
    shutil.copyfile(a_pe_file(), bundle / "_internal" / "PySide6" / "QtCore.pyd")
    (bundle / "_internal" / "readme.dll").write_text("not a PE file")  # skipped by its header
    pfx, ca = code_signing_pfx(tmp_path)
    (tmp_path / "pass.txt").write_text("s3cret")

    proc = subprocess.run(
        ["bash", str(SCRIPT), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SIGN_PFX": str(pfx), "SIGN_PFX_PASS_FILE": str(tmp_path / "pass.txt")},
    )

    assert proc.returncode == 0, proc.stderr
    assert "signed 2 file(s); 0 already signed" in proc.stderr
    for signed in (bundle / "clinic-triage.exe", bundle / "_internal" / "PySide6" / "QtCore.pyd"):
        verify = subprocess.run(
            ["osslsigncode", "verify", "-CAfile", str(ca), "-in", str(signed)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verify.returncode == 0 and "Signature verification: ok" in verify.stdout, verify.stdout
    # Running it again leaves the signed files alone.
    again = subprocess.run(
        ["bash", str(SCRIPT), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SIGN_PFX": str(pfx), "SIGN_PFX_PASS": "s3cret"},
    )
    assert again.returncode == 0 and "signed 0 file(s); 2 already signed" in again.stderr


def test_without_a_certificate_the_build_is_left_unsigned_and_says_so(tmp_path: Path) -> None:
    shutil.copyfile(a_pe_file(), tmp_path / "clinic-triage.exe")
    before = (tmp_path / "clinic-triage.exe").read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGN_")}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "left unsigned" in proc.stderr
    assert (tmp_path / "clinic-triage.exe").read_bytes() == before


def test_a_wrong_password_fails_loudly(tmp_path: Path) -> None:
    shutil.copyfile(a_pe_file(), tmp_path / "clinic-triage.exe")
    pfx, _ca = code_signing_pfx(tmp_path)
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SIGN_PFX": str(pfx), "SIGN_PFX_PASS": "wrong"},
    )
    assert proc.returncode == 1 and "FAILED to sign" in proc.stderr
    assert not list(tmp_path.glob("*.signing"))


def test_build_py_sign_runs_the_signing_step_on_a_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("clinic_build_sign", ROOT / "packaging" / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    bundle = tmp_path / "clinic-pharmacy"
    bundle.mkdir()
    shutil.copyfile(a_pe_file(), bundle / "clinic-pharmacy.exe")
    pfx, ca = code_signing_pfx(tmp_path)
    monkeypatch.setenv("SIGN_PFX", str(pfx))
    monkeypatch.setenv("SIGN_PFX_PASS", "s3cret")

    build.sign(bundle)

    verify = subprocess.run(
        ["osslsigncode", "verify", "-CAfile", str(ca), "-in", str(bundle / "clinic-pharmacy.exe")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Signature verification: ok" in verify.stdout
    monkeypatch.setenv("SIGN_PFX_PASS", "wrong")
    shutil.copyfile(a_pe_file(), bundle / "clinic-pharmacy.exe")
    with pytest.raises(subprocess.CalledProcessError):
        build.sign(bundle)  # a signing failure fails the build
