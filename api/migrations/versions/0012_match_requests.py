"""match requests: students' requests for tutoring, stored until booked or withdrawn

A ``match_requests`` row keeps what matching reads (student, subject, level,
UTC windows as JSON, duration), its status (``open``, ``booked`` or
``withdrawn``) and, once booked, the session it became.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=100), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "booked",
                "withdrawn",
                name="match_request_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "duration_minutes > 0", name=op.f("ck_match_requests_positive_duration")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_match_requests_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_match_requests_session_id_live_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_match_requests_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_requests")),
    )
    with op.batch_alter_table("match_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_match_requests_org_status", ["org_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_match_requests_student_id"), ["student_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_requests_student_id"))
        batch_op.drop_index("ix_match_requests_org_status")
    op.drop_table("match_requests")
