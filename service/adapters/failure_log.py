"""Background work that failed permanently, in SQL: listed by GET /fhir/notify/failures, and counted."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.adapters.store.engine import writer
from service.adapters.store.models import BackgroundFailureRow
from service.ports import BackgroundFailure

REASON_LIMIT = 2000


class SqlFailureLog:
    """FailureLog on SQLite or PostgreSQL (the engine of `make_engine`, migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    def record_failure(self, failure: BackgroundFailure) -> None:
        row = BackgroundFailureRow(
            task=failure.task,
            subject=failure.subject,
            reason=failure.reason[:REASON_LIMIT],
            attempts=failure.attempts,
            failed_at=failure.failed_at,
        )
        with Session(self._writer) as session, session.begin():
            session.add(row)

    def failures(self, limit: int = 100) -> tuple[BackgroundFailure, ...]:
        stmt = (
            select(BackgroundFailureRow)
            .order_by(BackgroundFailureRow.failed_at.desc(), BackgroundFailureRow.id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return tuple(
                BackgroundFailure(r.task, r.subject, r.reason, r.attempts, r.failed_at)
                for r in session.scalars(stmt)
            )

    def failure_count(self) -> int:
        with Session(self._engine) as session:
            return session.scalar(select(func.count()).select_from(BackgroundFailureRow)) or 0
