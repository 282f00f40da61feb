"""Scheduling: organisations, people and the sessions they book.

Owns tutors, students, guardians and their guardianships, and live sessions as
bookings. Imports only ``core``.
"""

from scheduling.bookings import book_session
from scheduling.models import (
    Guardian,
    Guardianship,
    LiveSession,
    Organization,
    Role,
    SessionStatus,
    SessionStudent,
    Student,
    Tutor,
    User,
)

__all__ = [
    "Guardian",
    "Guardianship",
    "LiveSession",
    "Organization",
    "Role",
    "SessionStatus",
    "SessionStudent",
    "Student",
    "Tutor",
    "User",
    "book_session",
]
