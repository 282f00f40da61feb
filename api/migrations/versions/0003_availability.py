"""availability: tutors' qualifications, weekly availability, date exceptions and limits

Weekly rules and date exceptions are stated in the tutor's own zone
(``tutors.time_zone``) as minutes from local midnight, so they keep their wall
clock times across daylight-saving changes; an exception may instead give an
exact UTC range. ``tutor_limits`` has at most one row per tutor. Every row goes
with its tutor (ON DELETE CASCADE).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tutor_qualifications',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tutor_id', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tutor_id'], ['tutors.id'], name=op.f('fk_tutor_qualifications_tutor_id_tutors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_qualifications')),
    sa.UniqueConstraint('tutor_id', 'subject', 'level', name=op.f('uq_tutor_qualifications_tutor_id_subject_level'))
    )
    with op.batch_alter_table('tutor_qualifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tutor_qualifications_tutor_id'), ['tutor_id'], unique=False)

    op.create_table('availability_rules',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tutor_id', sa.String(length=32), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('weekday >= 0 AND weekday <= 6', name=op.f('ck_availability_rules_weekday_range')),
    sa.CheckConstraint('start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute', name=op.f('ck_availability_rules_minutes_range')),
    sa.ForeignKeyConstraint(['tutor_id'], ['tutors.id'], name=op.f('fk_availability_rules_tutor_id_tutors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_rules'))
    )
    with op.batch_alter_table('availability_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_availability_rules_tutor_id'), ['tutor_id'], unique=False)

    op.create_table('availability_exceptions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tutor_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('time_off', 'extra_hours', name='exception_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('start_minute', sa.Integer(), nullable=True),
    sa.Column('end_minute', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(on_date IS NOT NULL AND starts_at IS NULL AND ends_at IS NULL) OR (on_date IS NULL AND starts_at IS NOT NULL AND ends_at > starts_at)', name=op.f('ck_availability_exceptions_date_or_range')),
    sa.ForeignKeyConstraint(['tutor_id'], ['tutors.id'], name=op.f('fk_availability_exceptions_tutor_id_tutors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_exceptions'))
    )
    with op.batch_alter_table('availability_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_availability_exceptions_tutor_id'), ['tutor_id'], unique=False)

    op.create_table('tutor_limits',
    sa.Column('tutor_id', sa.String(length=32), nullable=False),
    sa.Column('max_sessions_per_day', sa.Integer(), nullable=True),
    sa.Column('max_sessions_per_week', sa.Integer(), nullable=True),
    sa.Column('buffer_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tutor_id'], ['tutors.id'], name=op.f('fk_tutor_limits_tutor_id_tutors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tutor_id', name=op.f('pk_tutor_limits'))
    )


def downgrade() -> None:
    op.drop_table('tutor_limits')
    with op.batch_alter_table('availability_exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_availability_exceptions_tutor_id'))

    op.drop_table('availability_exceptions')
    with op.batch_alter_table('availability_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_availability_rules_tutor_id'))

    op.drop_table('availability_rules')
    with op.batch_alter_table('tutor_qualifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tutor_qualifications_tutor_id'))

    op.drop_table('tutor_qualifications')
