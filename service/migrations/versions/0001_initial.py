"""Initial store: CDS Hooks feedback and the alerts of the background path.

Revision ID: 0001
Revises:
Create Date: 2026-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cds_feedback",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(), nullable=False),
        sa.Column("service_id", sa.String(), nullable=False),
        sa.Column("hook_instance", sa.String(), nullable=False),
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("reason_code", sa.String(), nullable=True),
        sa.Column("reason_system", sa.String(), nullable=True),
        sa.Column("reason_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
        sa.UniqueConstraint(
            "card_uuid",
            "hook_instance",
            "outcome",
            "outcome_timestamp",
            name=op.f("uq_cds_feedback_card_uuid"),
        ),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name=op.f("ck_cds_feedback_outcome")),
    )
    op.create_index("ix_cds_feedback_rule_id", "cds_feedback", ["rule_id"])
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("patient", sa.String(), nullable=False),
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("index_key", sa.String(), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("card_uuid", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("patient", "rule_id", "index_key", name=op.f("uq_alerts_patient")),
        sa.CheckConstraint("status IN ('new', 'written', 'failed')", name=op.f("ck_alerts_status")),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_cds_feedback_rule_id", table_name="cds_feedback")
    op.drop_table("cds_feedback")
