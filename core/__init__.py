"""Liveclass core: the settings base, database, ids, clock and errors.

The smallest package: everything else may import it and it imports nothing of
ours, so it must stay free of domain knowledge (no tutors, no media).
"""

from core.clock import Clock, FixedClock, SystemClock
from core.errors import (
    Conflict,
    LiveclassError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from core.ids import new_id
from core.settings import CoreSettings, LiveclassSettings

__all__ = [
    "Clock",
    "Conflict",
    "FixedClock",
    "LiveclassError",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "CoreSettings",
    "LiveclassSettings",
    "SystemClock",
    "ValidationFailed",
    "new_id",
]
