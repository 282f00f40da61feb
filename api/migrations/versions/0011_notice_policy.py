"""notice policy: who cancelled a session, when, and whether it was late; change notices;
reminder preferences

A cancelled session records when it was cancelled, at whose request
(``change_party``) and whether that was later than the notice policy asks;
``delivery_kind`` gains ``session_cancelled`` and ``session_rescheduled``,
the emails that tell guardians, students and the tutor. Tutors and students
may turn their own session reminders off: ``tutors.notify_reminders`` and
``students.notify_reminders`` (true for everyone already there; guardians
have had theirs per child since 0001).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("absence_notice", "session_summary", "session_reminder", "tutor_substituted")
_NEW = ("session_cancelled", "session_rescheduled")


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # Plain ADD COLUMNs: no CHECK on cancelled_by, since adding one on SQLite
    # would copy live_sessions, which many tables reference.
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "cancelled_by",
                sa.Enum(
                    "student",
                    "tutor",
                    "organisation",
                    name="change_party",
                    native_enum=False,
                    create_constraint=False,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("late_cancellation", sa.Boolean(), nullable=True))
    # Plain ADD COLUMN with a server default: no table copy on SQLite.
    for table in ("tutors", "students"):
        op.add_column(
            table,
            sa.Column("notify_reminders", sa.Boolean(), server_default=sa.true(), nullable=False),
        )
    # VARCHAR + CHECK enum: batch mode drops the old check and writes the new one
    # (on SQLite by copying the table), as 0008-0010 do.
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, *_NEW),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Those rows no longer fit the narrower kind.
    op.execute(
        "DELETE FROM notification_deliveries "
        "WHERE kind IN ('session_cancelled', 'session_rescheduled')"
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, *_NEW),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
    for table in ("tutors", "students"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("notify_reminders")
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.drop_column("late_cancellation")
        batch_op.drop_column("cancelled_by")
        batch_op.drop_column("cancelled_at")
