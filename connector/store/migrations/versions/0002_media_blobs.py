"""media blobs: outbound MMS attachments served from /media/<token>

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_blobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_media_blob_key"),
        sa.UniqueConstraint("source", "source_id", "position", name="uq_media_blob_source"),
    )
    with op.batch_alter_table("media_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_media_blobs_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_media_blobs_expires")
    op.drop_table("media_blobs")
