"""Names the token exchange tests share (RFC 8693 §2.1, §3)."""

from __future__ import annotations

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
USER_SCOPE = "openid profile read:notes"
SERVICE_SCOPE = "profile read:notes write:notes"
