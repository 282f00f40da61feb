"""transcripts, session documents and briefings: what the documentation handlers
store after a session (transcript_segments, session_documents, briefings), and the
drafting_failed exception kind

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("tutor_no_show", "student_absent", "no_recording")


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="session_exception_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    op.create_table(
        "transcript_segments",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_transcript_segments_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "index", name=op.f("pk_transcript_segments")),
    )
    op.create_table(
        "session_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                name="document_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("drafted_by", sa.String(length=200), nullable=False),
        sa.Column("fallback_reason", sa.String(length=2000), nullable=True),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by", sa.String(length=32), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_session_documents_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_documents")),
        sa.UniqueConstraint("session_id", name=op.f("uq_session_documents_session_id")),
    )
    op.create_table(
        "briefings",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("source_session_id", sa.String(length=32), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_briefings_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "student_id", name=op.f("pk_briefings")),
    )
    # The kind is a VARCHAR with a CHECK of its values: batch mode drops the old
    # check and writes the new one (on SQLite by copying the table).
    with op.batch_alter_table("session_exceptions", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, "drafting_failed"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM session_exceptions WHERE kind = 'drafting_failed'")
    with op.batch_alter_table("session_exceptions", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, "drafting_failed"),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
    op.drop_table("briefings")
    op.drop_table("session_documents")
    op.drop_table("transcript_segments")
