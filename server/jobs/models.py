"""The run-once claim table: one row per (job, time slot), whoever inserts it runs the slot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow
from server.db.types import BigIntPK

__all__ = ["JobRun"]


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_name", "slot_start"),
        Index("ix_job_runs_job_name_started_at", "job_name", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_name: Mapped[str] = mapped_column(String(80))
    slot_start: Mapped[datetime] = mapped_column()
    """The scheduled occurrence this row claims (aligned to the job's interval)."""
    owner: Mapped[str] = mapped_column(String(120))
    """host:pid of the process that won the claim (or ``cli:…`` for a run by hand)."""
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")
    """schedule or manual."""
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="running")
    """running, succeeded, failed."""
    error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
