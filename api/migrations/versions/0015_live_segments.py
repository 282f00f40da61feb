"""live segments: speech transcribed while the lesson ran, per recorded file

A ``live_segments`` row is one utterance's text as live transcription gave it:
the recorded file it came from (``stream_id``, named by ``recording.ready``),
its order there, its times in seconds of that file, and when it was stored.
Deleting a session deletes its rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_segments",
        sa.Column("stream_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_segments_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stream_id", "seq", name=op.f("pk_live_segments")),
    )
    with op.batch_alter_table("live_segments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_segments_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("live_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_segments_session_id"))
    op.drop_table("live_segments")
