"""What a validated authorization request needs next: sign-in, consent or a code (OIDC Core §3.1.2.3-3.1.2.4)."""

from __future__ import annotations

import enum
from datetime import datetime

from auth_service.oauth.authorize.request import AuthorizationRequest
from shared.errors import (
    ConsentRequiredError,
    LoginRequiredError,
)
from shared.models import (
    Consent,
    UserSession,
)


class Step(enum.Enum):
    LOGIN = "login"
    CONSENT = "consent"
    ISSUE_CODE = "issue_code"


def next_step(
    request: AuthorizationRequest,
    *,
    session: UserSession | None,
    consent: Consent | None,
    min_auth_time: datetime | None,
) -> Step:
    """What the user must do next; prompt=none turns any needed interaction into an error."""
    needs_login = session is None or (
        min_auth_time is not None and session.auth_time < min_auth_time
    )
    needs_consent = (
        consent is None or not request.scopes <= consent.scopes or "consent" in request.prompt
    )
    if "none" in request.prompt:
        # OIDC Core §3.1.2.6: answer without showing any page.
        if needs_login:
            raise LoginRequiredError("the user is not logged in")
        if needs_consent:
            raise ConsentRequiredError("the user has not consented to these scopes")
    if needs_login:
        return Step.LOGIN
    return Step.CONSENT if needs_consent else Step.ISSUE_CODE
