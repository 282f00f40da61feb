"""presence records: who joined and left each session's room

One row per participant.joined / participant.left the signaling server
records. The integer id grows with each write and breaks ties in ``at``.
The session foreign key has no cascade: a joined session keeps its history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('presence_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('type', sa.Enum('participant.joined', 'participant.left', name='presence_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_presence_records_session_id_live_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_presence_records'))
    )
    with op.batch_alter_table('presence_records', schema=None) as batch_op:
        batch_op.create_index('ix_presence_records_session_at', ['session_id', 'at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('presence_records', schema=None) as batch_op:
        batch_op.drop_index('ix_presence_records_session_at')

    op.drop_table('presence_records')
