"""The key a per-client budget counts under (the token and pushed authorization request endpoints)."""

from __future__ import annotations

from auth_service.throttling.addresses import address_group
from shared.models import Client


def client_budget_key(client: Client, ip: str | None) -> str:
    """A confidential client has proved itself: its budget is its own. A public client proves
    nothing (RFC 6749 section 2.1), so anyone could spend a budget keyed by its id alone and
    lock all its users out: it is counted per client and address (IPv6 by /64)."""
    if client.is_public:
        return f"{client.client_id}|{address_group(ip)}"
    return client.client_id
