"""ORM tables of the store. These rows never leave the store package: the ports speak frozen dataclasses.

The Alembic migrations in `service/migrations` create exactly these tables; a contract test compares
the migrated schema with this metadata on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so that migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        utc = value.astimezone(UTC)
        # SQLite keeps the text of the datetime: store UTC without an offset, read it back as UTC.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), str: String(), dict[str, Any]: JSON()}  # noqa: RUF012


class FeedbackRow(Base):
    """One CDS Hooks feedback item. A repeat of the same item violates `uq_cds_feedback_card_uuid`."""

    __tablename__ = "cds_feedback"
    __table_args__ = (
        UniqueConstraint("card_uuid", "hook_instance", "outcome", "outcome_timestamp"),
        CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
        Index("ix_cds_feedback_rule_id", "rule_id"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str]
    service_id: Mapped[str]
    hook_instance: Mapped[str]
    rule_id: Mapped[str]
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[datetime]
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON())
    reason_code: Mapped[str | None]
    reason_system: Mapped[str | None]
    reason_display: Mapped[str | None] = mapped_column(Text())
    user_comment: Mapped[str | None] = mapped_column(Text())
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IssuedCardRow(Base):
    """A card uuid the CDS service returned, with the rule behind it (feedback names only the uuid)."""

    __tablename__ = "cds_cards"

    card_uuid: Mapped[str] = mapped_column(primary_key=True)
    rule_id: Mapped[str]
    service_id: Mapped[str]
    hook_instance: Mapped[str]  # the hook call that first returned the card
    issued_at: Mapped[datetime]


class AlertRow(Base):
    """A finding of the background path for one patient, with its write-back status."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("patient", "rule_id", "index_key"),
        CheckConstraint("status IN ('new', 'written', 'failed')", name="status"),
        Index("ix_alerts_status", "status"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    patient: Mapped[str]
    rule_id: Mapped[str]
    index_key: Mapped[str]
    indicator: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text())
    detail: Mapped[str] = mapped_column(Text())
    card_uuid: Mapped[str]
    identifier: Mapped[str]
    evidence: Mapped[list[str]] = mapped_column(JSON())
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The evaluation instant that last produced the alert: an older evaluation never overrides it.
    last_seen_at: Mapped[datetime]
    # Set when a later evaluation no longer finds it: retired alerts are not served as cards.
    retired_at: Mapped[datetime | None]


# --- Background path (issue 4): subscriptions, idempotent intake, outbox, failures ---------------------


class NotifySubscriptionRow(Base):
    """What we know of one EHR Subscription from its notifications (handshakes and heartbeats included)."""

    __tablename__ = "notify_subscriptions"

    subscription: Mapped[str] = mapped_column(primary_key=True)  # "Subscription/<id>"
    topic: Mapped[str | None]
    status: Mapped[str | None] = mapped_column(String(32))
    heartbeat_seconds: Mapped[int | None]
    # Every event number up to this one was received or recovered (None: no event seen yet).
    contiguous_through: Mapped[int | None] = mapped_column(BigInteger())
    # The server's own count (events-since-subscription-start), from heartbeats and $status.
    server_count: Mapped[int | None] = mapped_column(BigInteger())
    handshakes: Mapped[int]
    heartbeats: Mapped[int]
    # Handshakes, heartbeats, pings, $status; event traffic is read from the claims (no row lock).
    last_contact_at: Mapped[datetime]
    last_event_at: Mapped[datetime | None]  # the last ping
    last_heartbeat_at: Mapped[datetime | None]
    handshake_at: Mapped[datetime | None]
    status_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class NotifyClaimRow(Base):
    """One accepted delivery key: a repeat of the key is dropped (idempotent intake).

    The claim is inserted and the work handed off (broker publish or outbox row) in ONE transaction,
    committed only after the hand-off succeeded: a failed or interrupted hand-off leaves no claim, so
    the EHR's retry is accepted again and no event is lost.
    """

    __tablename__ = "notify_claims"
    __table_args__ = (Index("ix_notify_claims_subscription", "subscription", "event_number"),)

    key: Mapped[str] = mapped_column(primary_key=True)
    subscription: Mapped[str | None]
    event_number: Mapped[int | None] = mapped_column(BigInteger())
    source: Mapped[str] = mapped_column(String(16))  # "delivered" by the EHR, or "recovered" by us
    claimed_at: Mapped[datetime]


class OutboxRow(Base):
    """Work accepted on the embedded default (no broker), drained by the in-process dispatcher."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_available_at", "available_at"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    task: Mapped[str]
    kwargs: Mapped[dict[str, Any]]
    key: Mapped[str | None]
    attempts: Mapped[int]
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]  # a lease: a crashed dispatcher's work comes back after it


class BackgroundFailureRow(Base):
    """Background work that failed permanently, with the reason (GET /fhir/notify/failures)."""

    __tablename__ = "background_failures"
    __table_args__ = (Index("ix_background_failures_failed_at", "failed_at"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    task: Mapped[str]
    subject: Mapped[str]
    reason: Mapped[str] = mapped_column(Text())
    attempts: Mapped[int]
    failed_at: Mapped[datetime]
