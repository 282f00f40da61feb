"""at-risk exception kinds: patterns over several sessions, raised by the detector

Adds seven values to ``session_exceptions.kind``: ``attendance_falling``,
``lateness_rising``, ``talk_share_falling``, ``repeated_difficulty`` and
``homework_not_followed_up`` (about a student), ``reviews_overdue`` and
``late_starts`` (about a tutor). Downgrading deletes exceptions of those kinds.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("tutor_no_show", "student_absent", "no_recording", "drafting_failed")
_RISKS = (
    "attendance_falling",
    "lateness_rising",
    "talk_share_falling",
    "repeated_difficulty",
    "homework_not_followed_up",
    "reviews_overdue",
    "late_starts",
)


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="session_exception_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # The kind is a VARCHAR with a CHECK of its values: batch mode drops the old
    # check and writes the new one (on SQLite by copying the table).
    with op.batch_alter_table("session_exceptions", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, *_RISKS),
            existing_nullable=False,
        )


def downgrade() -> None:
    kinds = ", ".join(f"'{k}'" for k in _RISKS)
    op.execute(f"DELETE FROM session_exceptions WHERE kind IN ({kinds})")
    with op.batch_alter_table("session_exceptions", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, *_RISKS),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
