"""index messages by ticket: the helpdesk webhook route asks whether a ticket was ever an SMS
conversation's before queueing anything (an unknown ticket is a 404)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 23:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_ticket", ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_ticket")
