"""The key activation delay covers the JWKS cache lifetime plus the instances' schedule reload
(found by the fault suite: with the delay equal to the max-age, a resource server that fetched
the key set just before an instance reloaded refused the new key's first tokens)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings


def _auth(**values: object) -> AuthSettings:
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_config_refuses_activation_delay_that_ignores_the_reload_interval() -> None:
    with pytest.raises(ValidationError, match="AUTH_JWKS_MAX_AGE \\+ AUTH_KEY_RELOAD_INTERVAL"):
        _auth(jwks_max_age=300, key_reload_interval=10, key_activation_delay=300)


def test_config_accepts_activation_delay_of_max_age_plus_reload_interval() -> None:
    settings = _auth(jwks_max_age=300, key_reload_interval=10, key_activation_delay=310)
    assert settings.key_activation_delay == 310


def test_config_defaults_leave_room_for_the_reload() -> None:
    settings = _auth()
    assert settings.key_activation_delay >= settings.jwks_max_age + settings.key_reload_interval
