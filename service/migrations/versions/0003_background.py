"""Background path: subscription state, idempotent intake claims, the SQL outbox, permanent failures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "notify_subscriptions",
        sa.Column("subscription", sa.String(), nullable=False),
        sa.Column("topic", sa.String(), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=True),
        sa.Column("contiguous_through", sa.BigInteger(), nullable=True),
        sa.Column("server_count", sa.BigInteger(), nullable=True),
        sa.Column("handshakes", sa.Integer(), nullable=False),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        _at("last_contact_at"),
        _at("last_event_at", nullable=True),
        _at("last_heartbeat_at", nullable=True),
        _at("handshake_at", nullable=True),
        _at("status_checked_at", nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("subscription", name=op.f("pk_notify_subscriptions")),
    )
    op.create_table(
        "notify_claims",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("subscription", sa.String(), nullable=True),
        sa.Column("event_number", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        _at("claimed_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notify_claims")),
    )
    op.create_index("ix_notify_claims_subscription", "notify_claims", ["subscription", "event_number"])
    op.create_table(
        "notify_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("available_at"),
        _at("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox")),
    )
    op.create_index("ix_notify_outbox_available_at", "notify_outbox", ["available_at"])
    op.create_table(
        "background_failures",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("failed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_failures")),
    )
    op.create_index("ix_background_failures_failed_at", "background_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_background_failures_failed_at", table_name="background_failures")
    op.drop_table("background_failures")
    op.drop_index("ix_notify_outbox_available_at", table_name="notify_outbox")
    op.drop_table("notify_outbox")
    op.drop_index("ix_notify_claims_subscription", table_name="notify_claims")
    op.drop_table("notify_claims")
    op.drop_table("notify_subscriptions")
