"""Errors of the signaling package.

Hierarchy::

    core.errors.NotAuthenticated
    └── JoinTokenError                (401; code says which check failed)
          codes: join_token_missing, join_token_invalid,
                 join_token_expired, join_token_wrong_session
"""

from __future__ import annotations

from core.errors import NotAuthenticated


class JoinTokenError(NotAuthenticated):
    """A join token that cannot admit its bearer; ``code`` names the reason."""

    code = "join_token_invalid"
