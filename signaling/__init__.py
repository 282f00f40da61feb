"""Signaling: join tokens now; the WebSocket protocol and rooms come with the live media issue."""

from signaling.errors import JoinTokenError
from signaling.tokens import JoinGrant, issue_join_token, verify_join_token

__all__ = ["JoinGrant", "JoinTokenError", "issue_join_token", "verify_join_token"]
