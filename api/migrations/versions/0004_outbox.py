"""outbox: domain events written with the state changes that cause them, and the
handlers' ledger (handled_events) and failures (handler_failures, the dead letters)

One row per event (session.opened, participant.joined, session.ended, ...).
``seq`` is commit order for dispatchers; ``id`` is what handlers de-duplicate
on; ``dispatched_at`` stays empty until a bus has taken the event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_outbox_events_session_id_live_sessions')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_outbox_events')),
    sa.UniqueConstraint('id', name=op.f('uq_outbox_events_id'))
    )
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_events_session_seq', ['session_id', 'seq'], unique=False)
        batch_op.create_index('ix_outbox_events_undispatched', ['dispatched_at', 'seq'], unique=False)

    op.create_table('handled_events',
    sa.Column('handler', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_events.id'], name=op.f('fk_handled_events_event_id_outbox_events')),
    sa.PrimaryKeyConstraint('handler', 'event_id', name=op.f('pk_handled_events'))
    )
    op.create_table('handler_failures',
    sa.Column('handler', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=2000), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dead', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_events.id'], name=op.f('fk_handler_failures_event_id_outbox_events')),
    sa.PrimaryKeyConstraint('handler', 'event_id', name=op.f('pk_handler_failures'))
    )


def downgrade() -> None:
    op.drop_table('handler_failures')
    op.drop_table('handled_events')
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_events_undispatched')
        batch_op.drop_index('ix_outbox_events_session_seq')

    op.drop_table('outbox_events')
