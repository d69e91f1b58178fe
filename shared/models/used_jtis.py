"""JWT ids seen once, for single-use checks across instances when there is no Redis."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime


class UsedJti(SQLModel, table=True):
    """A `jti` that must not be accepted again before `expires_at`: client assertions (RFC 7523
    §3 item 7) and DPoP proofs (RFC 9449 §11.1). The key is a digest of the purpose, the issuer
    of the JWT and its `jti`, so one table serves every use; an INSERT that conflicts is a replay.
    """

    __tablename__ = "used_jti"

    key: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
