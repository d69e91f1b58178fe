"""When each scheduled job last ran, so that N instances run it once per interval, not N times."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime


class ScheduledJob(SQLModel, table=True):
    __tablename__ = "scheduled_job"

    name: str = Field(primary_key=True, max_length=64)
    last_run_at: datetime = Field(sa_type=UTCDateTime)
