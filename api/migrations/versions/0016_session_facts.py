"""session facts: each held session's structured data, as rows for analytics

``session_facts`` holds one row per held session (lateness and presence of the
tutor, the tutor's talk share, the document's counts of topics, checks by
outcome, difficulties and homework, and whether earlier homework was taken up);
``participant_facts`` one per participant (present, late, seconds present, talk
seconds and share, questions, homework due and followed up); ``fact_items`` the
document's topics, checks (with outcomes), difficulties and homework as rows.
All are derived (``sessions.facts``): ``liveclass facts rebuild`` fills them for
sessions held before this revision. Deleting a session deletes its facts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_id"],
        ["live_sessions.id"],
        name=op.f(f"fk_{table}_session_id_live_sessions"),
        ondelete="CASCADE",
    )


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"], ["organizations.id"], name=op.f(f"fk_{table}_org_id_organizations")
    )


def _periods() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "session_facts",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("tutor_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=False),
        *_periods(),
        sa.Column("scheduled_minutes", sa.Integer(), nullable=False),
        sa.Column("tutor_present", sa.Boolean(), nullable=False),
        sa.Column("tutor_late_minutes", sa.Integer(), nullable=True),
        sa.Column("tutor_seconds_present", sa.Integer(), nullable=False),
        sa.Column("transcribed", sa.Boolean(), nullable=False),
        sa.Column("tutor_talk_share", sa.Float(), nullable=True),
        sa.Column("document_status", sa.String(length=32), nullable=True),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("topics", sa.Integer(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=True),
        sa.Column("checks_understood", sa.Integer(), nullable=True),
        sa.Column("checks_partly", sa.Integer(), nullable=True),
        sa.Column("checks_not_yet", sa.Integer(), nullable=True),
        sa.Column("difficulties", sa.Integer(), nullable=True),
        sa.Column("homework_set", sa.Boolean(), nullable=True),
        sa.Column("homework_mentioned", sa.Boolean(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        _session_fk("session_facts"),
        _org_fk("session_facts"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_facts")),
    )
    with op.batch_alter_table("session_facts", schema=None) as batch_op:
        batch_op.create_index("ix_session_facts_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index("ix_session_facts_tutor_day", ["tutor_id", "day"], unique=False)

    op.create_table(
        "participant_facts",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=True),
        sa.Column("tutor_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        *_periods(),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("late_minutes", sa.Integer(), nullable=True),
        sa.Column("seconds_present", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("talk_share", sa.Float(), nullable=True),
        sa.Column("questions", sa.Integer(), nullable=True),
        sa.Column("homework_due", sa.Boolean(), nullable=True),
        sa.Column("homework_followed_up", sa.Boolean(), nullable=True),
        _session_fk("participant_facts"),
        _org_fk("participant_facts"),
        sa.PrimaryKeyConstraint(
            "session_id", "participant_id", name=op.f("pk_participant_facts")
        ),
    )
    with op.batch_alter_table("participant_facts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participant_facts_student_day", ["student_id", "day"], unique=False
        )
        batch_op.create_index("ix_participant_facts_org_day", ["org_id", "day"], unique=False)

    op.create_table(
        "fact_items",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "topic",
                "check",
                "difficulty",
                "homework",
                name="fact_item_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=400), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        _session_fk("fact_items"),
        sa.PrimaryKeyConstraint("session_id", "kind", "position", name=op.f("pk_fact_items")),
    )


def downgrade() -> None:
    op.drop_table("fact_items")
    with op.batch_alter_table("participant_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_participant_facts_org_day")
        batch_op.drop_index("ix_participant_facts_student_day")
    op.drop_table("participant_facts")
    with op.batch_alter_table("session_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_session_facts_tutor_day")
        batch_op.drop_index("ix_session_facts_org_day")
    op.drop_table("session_facts")
