"""the SLA ledger: one row per ticket the connector filed and the escalation engine's events, for
the weekly SLA review (connector/store/sla.py)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_tickets",
        sa.Column("helpdesk", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("scenario", sa.String(length=32), nullable=True),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=True),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=True),
        sa.Column("after_hours", sa.Boolean(), nullable=False),
        sa.Column("enforced_by", sa.String(length=16), nullable=True),
        sa.Column("first_response_at", sa.Float(), nullable=True),
        sa.Column("solved_at", sa.Float(), nullable=True),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("helpdesk", "ticket_id"),
    )
    with op.batch_alter_table("sla_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_sla_tickets_received", ["received_at"], unique=False)

    op.create_table(
        "sla_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("helpdesk", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("dedup", sa.String(length=191), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup", name="uq_sla_events_dedup"),
    )
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.create_index("ix_sla_events_at", ["at"], unique=False)
        batch_op.create_index("ix_sla_events_ticket", ["helpdesk", "ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_events_ticket")
        batch_op.drop_index("ix_sla_events_at")
    op.drop_table("sla_events")
    with op.batch_alter_table("sla_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_tickets_received")
    op.drop_table("sla_tickets")
