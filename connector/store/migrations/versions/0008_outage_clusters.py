"""outage clusters: the reports of a service outage, the one problem / tracker ticket they are
linked under, and each channel's next free sending slot for fan-out texts
(connector/store/outages.py, connector/pipeline/outage.py)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outage_clusters",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("helpdesk", sa.String(length=16), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        # "<helpdesk>:<scenario>" while open, NULL once closed: the unique key lets exactly one
        # open cluster exist per scenario whichever worker forms it first.
        sa.Column("open_key", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("problem_key", sa.String(length=64), nullable=False),
        sa.Column("problem_attempted_at", sa.Float(), nullable=True),
        sa.Column("problem_id", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=True),  # the reports' (triage)
        sa.Column("latest_comment_id", sa.BigInteger(), nullable=True),
        sa.Column("latest_update", sa.JSON(), nullable=True),
        sa.UniqueConstraint("open_key", name="uq_outage_clusters_open_key"),
    )
    with op.batch_alter_table("outage_clusters", schema=None) as batch_op:
        batch_op.create_index("ix_outage_clusters_problem", ["helpdesk", "problem_id"],
                              unique=False)
    op.create_table(
        "outage_reports",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("helpdesk", sa.String(length=16), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("channel_key", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.Float(), nullable=False),
        sa.Column("cluster_id", sa.BigInteger(), nullable=True),
        sa.Column("linked_at", sa.Float(), nullable=True),
        # The cluster whose outage text the customer already got as the acknowledgement.
        sa.Column("told_cluster_id", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("helpdesk", "ticket_id", name="uq_outage_reports_ticket"),
    )
    with op.batch_alter_table("outage_reports", schema=None) as batch_op:
        batch_op.create_index("ix_outage_reports_window",
                              ["helpdesk", "scenario", "cluster_id", "reported_at"],
                              unique=False)
        batch_op.create_index("ix_outage_reports_cluster", ["cluster_id"], unique=False)
    op.create_table(
        "send_slots",
        sa.Column("channel_key", sa.String(length=64), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_slots")
    with op.batch_alter_table("outage_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_outage_reports_cluster")
        batch_op.drop_index("ix_outage_reports_window")
    op.drop_table("outage_reports")
    with op.batch_alter_table("outage_clusters", schema=None) as batch_op:
        batch_op.drop_index("ix_outage_clusters_problem")
    op.drop_table("outage_clusters")
