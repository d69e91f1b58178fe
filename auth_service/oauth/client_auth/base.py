"""The client-authentication contract (RFC 6749 §2.3): one small class per method.

A method declares where in the request it looks, which registered `token_endpoint_auth_method`s
(RFC 7591 §2) it may prove, and how it checks what it found against the client.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from shared.errors import InvalidClientError
from shared.models import Client


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a request presented, and the method that read it."""

    client_id: str
    client_secret: str | None
    method: ClientAuthMethod
    # RFC 7521 §4.2: the `client_assertion` JWT, for the methods that read one.
    assertion: str | None = None

    def failure(self, description: str) -> InvalidClientError:
        """RFC 6749 §5.2: invalid_client, with the method's challenge when it has one."""
        return InvalidClientError(description, challenge=self.method.challenge)


class ClientKeysUnavailable(Exception):
    """The client's keys could not be had (a jwks_uri fetch failed): invalid_client."""


class ClientKeySource(Protocol):
    async def jwks_for(self, client: Client, kid: str | None) -> Mapping[str, Any]:
        """The client's JWK Set; raises ClientKeysUnavailable when it cannot be had."""
        ...


@dataclass(frozen=True, slots=True)
class ClientAuthContext:
    """What the assertion methods need beyond the request: the audiences an assertion may name,
    the time, the client's keys and secret, and the single-use check of its `jti`."""

    now: datetime
    audiences: frozenset[str]
    leeway: int
    keys: ClientKeySource
    # The client's secret, readable for client_secret_jwt only (None when not stored).
    client_secret: Callable[[Client], str | None]
    # (client_id, jti, expires_at) -> whether this is the jti's first use.
    first_use: Callable[[str, str, datetime], Awaitable[bool]]


class ClientAuthMethod(ABC):
    # The RFC 7591 §2 / IANA "OAuth Token Endpoint Authentication Methods" name.
    name: ClassVar[str]
    # Whether clients registered with this method are public (RFC 6749 §2.1): they hold no
    # credential, so the method presents none and the others never stand in for it.
    for_public_clients: ClassVar[bool] = False
    # The registered methods a request made this way authenticates. A method proves its own; the
    # two ways of sending a client secret stand in for each other (RFC 6749 §2.3.1).
    accepted_for: ClassVar[frozenset[str]]
    # How the method reads in an error message ("HTTP Basic").
    where: ClassVar[str]
    # The WWW-Authenticate challenge of a failure, for methods that use the Authorization header.
    challenge: ClassVar[str | None] = None

    @abstractmethod
    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        """Whether the request carries this method's credential (cheap; nothing is decoded)."""

    @abstractmethod
    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        """The credentials of a request this method is used in; malformed ones raise."""

    @abstractmethod
    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        """Whether the credentials prove `client` (secrets compared in constant time). The
        assertion methods need `context`; without one they prove nothing."""
