"""Signaling: join tokens, the ``/rtc`` WebSocket protocol (``protocol``, a sans-I/O core) and
its socket adapter (``server``), and the presence records it writes (``presence``)."""

from signaling.errors import JoinTokenError
from signaling.tokens import JoinGrant, issue_join_token, verify_join_token

__all__ = ["JoinGrant", "JoinTokenError", "issue_join_token", "verify_join_token"]
