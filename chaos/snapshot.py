"""What the database holds after a scenario: codes, refresh tokens, grants, revoked jtis."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from chaos.ledger import Entry


def ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True, slots=True)
class TokenRow:
    grant_id: str
    parent_hash: str | None
    created_at: float
    rotated_at: float | None
    revoked_at: float | None


@dataclass
class Snapshot:
    codes: dict[str, tuple[str, float | None]]  # code hash -> (grant id, used_at)
    tokens: dict[str, TokenRow]  # refresh token hash -> row
    grants: dict[str, float | None]  # grant id -> revoked_at
    revoked_jtis: dict[str, float]  # jti -> created_at of its revocation event
    children: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for token_hash, row in self.tokens.items():
            if row.parent_hash is not None:
                self.children.setdefault(row.parent_hash, []).append(token_hash)

    @classmethod
    async def load(cls, database_url: str) -> Snapshot:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as db:
                codes = {
                    r.code_hash: (r.grant_id, ts(r.used_at))
                    for r in await db.execute(
                        text("SELECT code_hash, grant_id, used_at FROM authorization_code")
                    )
                }
                tokens = {
                    r.token_hash: TokenRow(
                        r.grant_id,
                        r.parent_hash,
                        r.created_at.timestamp(),
                        ts(r.rotated_at),
                        ts(r.revoked_at),
                    )
                    for r in await db.execute(
                        text(
                            "SELECT token_hash, grant_id, parent_hash, created_at, rotated_at,"
                            " revoked_at FROM refresh_token"
                        )
                    )
                }
                grants = {
                    r.id: ts(r.revoked_at)
                    for r in await db.execute(text('SELECT id, revoked_at FROM "grant"'))
                }
                jtis: dict[str, float] = {}
                for r in await db.execute(
                    text("SELECT value, created_at FROM revocation_event WHERE kind = 'token'")
                ):
                    jtis[r.value] = min(jtis.get(r.value, float("inf")), r.created_at.timestamp())
        finally:
            await engine.dispose()
        return cls(codes, tokens, grants, jtis)

    def grant_of(self, entry: Entry) -> str | None:
        if entry.ids.get("grant"):
            return entry.ids["grant"]
        if "rt_in" in entry.ids and entry.ids["rt_in"] in self.tokens:
            return self.tokens[entry.ids["rt_in"]].grant_id
        if "code" in entry.ids and entry.ids["code"] in self.codes:
            return self.codes[entry.ids["code"]][0]
        return None
