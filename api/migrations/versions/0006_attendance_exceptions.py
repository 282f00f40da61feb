"""attendance and session exceptions: what the lifecycle handlers store when a
session ends (attendance, exceptions) and how the schedule remembers it
(live_sessions.ended_at, session_students.next_session_id)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attendance',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('student_id', sa.String(length=32), nullable=True),
    sa.Column('intervals', sa.JSON(), nullable=False),
    sa.Column('first_joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late_minutes', sa.Integer(), nullable=True),
    sa.Column('seconds_present', sa.Integer(), nullable=False),
    sa.Column('absent', sa.Boolean(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_attendance_session_id_live_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'participant_id', name=op.f('pk_attendance'))
    )
    op.create_table('session_exceptions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('tutor_no_show', 'student_absent', 'no_recording', name='session_exception_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('subject', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'acknowledged', 'resolved', name='session_exception_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=32), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_session_exceptions_org_id_organizations')),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_session_exceptions_session_id_live_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_exceptions')),
    sa.UniqueConstraint('session_id', 'kind', 'subject', name=op.f('uq_session_exceptions_session_id_kind_subject'))
    )
    with op.batch_alter_table('session_exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_session_exceptions_org_status', ['org_id', 'status', 'raised_at'], unique=False)

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('session_students', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_session_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_session_students_next_session_id_live_sessions'), 'live_sessions', ['next_session_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('session_students', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_session_students_next_session_id_live_sessions'), type_='foreignkey')
        batch_op.drop_column('next_session_id')

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.drop_column('ended_at')

    with op.batch_alter_table('session_exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_session_exceptions_org_status')

    op.drop_table('session_exceptions')
    op.drop_table('attendance')
