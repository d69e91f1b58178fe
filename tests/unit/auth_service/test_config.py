"""Settings refuse insecure production values at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings
from resource_service.config import ResourceSettings


def _auth(**values: object) -> AuthSettings:
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_config_production_refuses_http_issuer(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="https"):
        _auth(environment="production", issuer="http://login.example", key_dir=tmp_path)


def test_config_production_refuses_missing_key_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="AUTH_KEY_DIR"):
        _auth(environment="production", issuer="https://login.example", key_dir=tmp_path / "nope")


def test_config_production_accepts_https_issuer_and_existing_key_dir(tmp_path: Path) -> None:
    settings = _auth(environment="production", issuer="https://login.example/", key_dir=tmp_path)
    assert settings.issuer == "https://login.example"
    assert settings.cookie_secure


@pytest.mark.parametrize(
    "issuer", ["login.example", "https://login.example?x=1", "https://a.example/#f"]
)
def test_config_refuses_malformed_issuer(issuer: str) -> None:
    with pytest.raises(ValidationError):
        _auth(issuer=issuer)


def test_config_tls_cert_needs_key() -> None:
    with pytest.raises(ValidationError, match="together"):
        _auth(tls_cert=Path("cert.pem"))


def test_config_resource_production_refuses_http_issuer() -> None:
    with pytest.raises(ValidationError, match="https"):
        ResourceSettings(_env_file=None, environment="production", issuer="http://x")  # type: ignore[call-arg]


def test_config_database_url_alias_switches_both_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@db/x")
    assert AuthSettings(_env_file=None).database_url == "postgresql+asyncpg://u@db/x"  # type: ignore[call-arg]
    assert ResourceSettings(_env_file=None).database_url == "postgresql+asyncpg://u@db/x"  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["jwks_url", "discovery_url", "revocation_feed_url"])
def test_config_resource_production_refuses_http_key_and_revocation_urls(name: str) -> None:
    values = {
        "environment": "production",
        "issuer": "https://login.example",
        name: "http://auth:8000/x",
    }
    with pytest.raises(ValidationError, match="https"):
        ResourceSettings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]
    trusted = ResourceSettings(_env_file=None, trust_internal_http=True, **values)  # type: ignore[call-arg, arg-type]
    assert getattr(trusted, name) == "http://auth:8000/x"


@pytest.mark.parametrize("value", ["*", "10.0.0.1, *"])
def test_resource_settings_refuse_forwarded_allow_ips_star(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ResourceSettings(_env_file=None, forwarded_allow_ips=value)  # type: ignore[call-arg]

    assert "RESOURCE_FORWARDED_ALLOW_IPS=* would believe any client's" in str(refused.value)
    named = ResourceSettings(_env_file=None, forwarded_allow_ips="10.0.0.1,172.28.0.0/24")  # type: ignore[call-arg]
    assert named.forwarded_allow_ips == "10.0.0.1,172.28.0.0/24"


@pytest.mark.parametrize(
    ("issuer", "relaxed"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:8000", True),
        ("http://localhost:8000", True),
        ("http://auth.localhost", True),
        ("http://auth.test", True),
        ("http://auth.example.com", False),
        ("https://10.0.0.5", False),
        ("http://test.example", False),
    ],
)
def test_relaxed_fetch_rules_only_in_development_on_a_local_issuer(
    issuer: str, relaxed: bool, tmp_path: Path
) -> None:
    assert _auth(issuer=issuer).relaxed_egress is relaxed
    https = issuer.replace("http://", "https://")
    assert _auth(environment="production", issuer=https, key_dir=tmp_path).relaxed_egress is False
