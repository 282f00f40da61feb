"""students decide for themselves from the consent age: date of birth and own consents

``students`` gains ``date_of_birth`` (null: unknown, so their guardians decide)
and the student's own ``recording_consent`` and ``ai_processing_consent`` (off),
which count from ``LIVECLASS_CONSENT_AGE`` on (``sessions.consent.ConsentRule``).
Existing students have no date of birth: nothing changes for them until one is
entered.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (with a server default where not null): no table copy on SQLite.
    op.add_column("students", sa.Column("date_of_birth", sa.Date(), nullable=True))
    for column in ("recording_consent", "ai_processing_consent"):
        op.add_column(
            "students",
            sa.Column(column, sa.Boolean(), server_default=sa.false(), nullable=False),
        )


def downgrade() -> None:
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_column("ai_processing_consent")
        batch_op.drop_column("recording_consent")
        batch_op.drop_column("date_of_birth")
