"""Both services serve HTTPS when given a certificate; cookies are then Secure."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.databases import fresh_database
from tests.support.live import BIN, LiveStack, free_port, live_stack

pytestmark = pytest.mark.e2e


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


def _serve(stack: LiveStack, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (stack.workdir / f"{module}.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - fixed argv
            [str(BIN / "python"), "-m", module],
            env=stack.env(**env),
            cwd=stack.workdir,
            stdout=log,
            stderr=log,
        )


def _trust(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def _wait(url: str, cert: Path, process: subprocess.Popen[bytes]) -> httpx.Response:
    # The 20 s tests/support/live.py gives every other live service: importing the app alone
    # can take several seconds on a busy machine.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited"
        try:
            return httpx.get(url, verify=_trust(cert), timeout=1)
        except httpx.ConnectError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_tls_both_services_serve_https_and_set_secure_cookies(stack: LiveStack) -> None:
    cert, key = _self_signed(stack.workdir)
    auth_port, resource_port = free_port(), free_port()
    issuer = f"https://127.0.0.1:{auth_port}"
    auth = _serve(stack, "auth_service", {
        "AUTH_ISSUER": issuer, "AUTH_PORT": str(auth_port),
        "AUTH_TLS_CERT": str(cert), "AUTH_TLS_KEY": str(key),
    })  # fmt: skip
    resource = _serve(stack, "resource_service", {
        "RESOURCE_ISSUER": issuer, "RESOURCE_PORT": str(resource_port),
        "RESOURCE_TLS_CERT": str(cert), "RESOURCE_TLS_KEY": str(key),
    })  # fmt: skip
    try:
        assert _wait(f"{issuer}/healthz", cert, auth).status_code == 200
        assert (
            _wait(f"https://127.0.0.1:{resource_port}/healthz", cert, resource).status_code == 200
        )
        login = httpx.get(f"{issuer}/login", verify=_trust(cert))
        assert "secure" in login.headers["set-cookie"].lower()
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=lax" in login.headers["set-cookie"].lower()
        discovery = httpx.get(
            f"{issuer}/.well-known/openid-configuration", verify=_trust(cert)
        ).json()
        assert discovery["issuer"] == issuer
    finally:
        for process in (auth, resource):
            process.terminate()
            process.wait(timeout=10)
