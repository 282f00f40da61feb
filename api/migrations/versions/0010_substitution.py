"""substitution: the tutor_substituted delivery kind

When a coordinator gives a session to another tutor, the guardians and both
tutors are emailed; ``delivery_kind`` gains ``tutor_substituted``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("absence_notice", "session_summary", "session_reminder")


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # VARCHAR + CHECK enum: batch mode drops the old check and writes the new one
    # (on SQLite by copying the table), as 0008 and 0009 do.
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, "tutor_substituted"),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Those rows no longer fit the narrower kind.
    op.execute("DELETE FROM notification_deliveries WHERE kind = 'tutor_substituted'")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, "tutor_substituted"),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
