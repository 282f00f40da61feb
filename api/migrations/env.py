"""Alembic environment: migrate the connection handed in by ``api.migrate``."""

from __future__ import annotations

from alembic import context

import api.models  # noqa: F401  (registers the tables on Base.metadata)
import eventbus.models  # noqa: F401
import notifications.models  # noqa: F401
import scheduling.audit  # noqa: F401
import scheduling.match_requests  # noqa: F401
import scheduling.models  # noqa: F401
import sessions.models  # noqa: F401
from core.database import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit(
        "run migrations with 'liveclass migrate', which supplies the database connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
