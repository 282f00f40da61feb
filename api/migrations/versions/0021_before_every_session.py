"""before every session: booking confirmations, and reminder links without a login

``notification_deliveries.kind`` gains ``session_booked``: the confirmation a
tutor, each student and each guardian get when a session is booked, with its
iCalendar invite as the attachment (``notifications.change_notices``).
``guardianships`` gains ``join_without_login`` (off): whether a minor's reminder
may carry a link that lets them into the lesson without logging in (every
guardian on file must allow it). Downgrading deletes the confirmations.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "absence_notice",
    "session_summary",
    "session_reminder",
    "tutor_substituted",
    "session_cancelled",
    "session_rescheduled",
    "progress_report",
)


def _kind(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_kind", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # Plain ADD COLUMN with a server default: no table copy on SQLite.
    op.add_column(
        "guardianships",
        sa.Column("join_without_login", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # VARCHAR + CHECK enum: batch mode writes the new check (on SQLite by copying the table).
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS),
            type_=_kind(*_KINDS, "session_booked"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM notification_deliveries WHERE kind = 'session_booked'")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_kind(*_KINDS, "session_booked"),
            type_=_kind(*_KINDS),
            existing_nullable=False,
        )
    with op.batch_alter_table("guardianships", schema=None) as batch_op:
        batch_op.drop_column("join_without_login")
