"""Errors of the session lifecycle.

Hierarchy::

    core.errors.Conflict                (409 conflict)
    └── InvalidTransition               (409 invalid_transition: names the current state)
"""

from __future__ import annotations

from core.errors import Conflict


class InvalidTransition(Conflict):
    code = "invalid_transition"
