"""indexes for the automated-text guards (connector/pipeline/guards.py): the latest texts to a
number, and the texts from a number within the flood window

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_to_created", ["to_number", "created_at"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_from_received", ["from_number", "received_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_from_received")
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_to_created")
