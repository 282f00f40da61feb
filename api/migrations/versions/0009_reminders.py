"""reminders: the session_reminder delivery kind, and recipient_role on the delivery log

Session reminders go to the tutor and the students as well as to guardians,
so each delivery says whose it is (``recipient_role``; existing rows are all
guardians'), and ``delivery_kind`` gains ``session_reminder``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("absence_notice", "session_summary")


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # VARCHAR + CHECK enums: batch mode drops the old check and writes the new one
    # (on SQLite by copying the table), as 0008 does for the exception kinds.
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recipient_role",
                sa.Enum(
                    "guardian",
                    "tutor",
                    "student",
                    name="delivery_recipient",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                server_default="guardian",
                nullable=False,
            )
        )
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, "session_reminder"),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Reminders (the only rows for tutors and students) cannot be told apart from
    # guardian emails once the column is gone, and their kind no longer fits.
    op.execute("DELETE FROM notification_deliveries WHERE kind = 'session_reminder'")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, "session_reminder"),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
        # SQLite's copy would otherwise keep the column's check without the column.
        batch_op.drop_constraint(
            op.f("ck_notification_deliveries_delivery_recipient"), type_="check"
        )
        batch_op.drop_column("recipient_role")
