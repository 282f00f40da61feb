"""progress reports: a student's report per period, and email attachments

``progress_reports`` holds one report per student and period start (its
content as JSON, the sessions it was drawn from, draft or approved, who edited
and approved it and when); deleting the student deletes their reports.
``notification_deliveries`` gains ``attachment_name`` and ``attachment`` (the
bytes of a file sent with the email: a report's PDF) and the kind
``progress_report``. Downgrading deletes those deliveries.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "absence_notice",
    "session_summary",
    "session_reminder",
    "tutor_substituted",
    "session_cancelled",
    "session_rescheduled",
)


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    op.create_table(
        "progress_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                name="progress_report_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("session_ids", sa.JSON(), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by", sa.String(length=32), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_progress_reports_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_progress_reports_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_reports")),
        sa.UniqueConstraint(
            "student_id", "period_start", name=op.f("uq_progress_reports_student_id_period_start")
        ),
    )
    with op.batch_alter_table("progress_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_progress_reports_org_status", ["org_id", "status", "drafted_at"], unique=False
        )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attachment", sa.LargeBinary(), nullable=True))
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, "progress_report"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM notification_deliveries WHERE kind = 'progress_report'")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, "progress_report"),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
        batch_op.drop_column("attachment")
        batch_op.drop_column("attachment_name")
    with op.batch_alter_table("progress_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_reports_org_status")
    op.drop_table("progress_reports")
