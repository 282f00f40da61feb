"""Scheduling: organisations, people and the sessions they book.

Owns tutors, students, guardians and their guardianships, tutors' availability,
qualifications and limits, live sessions as conflict-checked bookings,
recurring series of them, and calendar feeds.
Imports only ``core``.
"""

from scheduling.bookings import book_session
from scheduling.errors import BookingConflict, SeriesConflict
from scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    CalendarFeed,
    Guardian,
    Guardianship,
    LiveSession,
    Organization,
    Role,
    SessionSeries,
    SessionStatus,
    SessionStudent,
    Student,
    Tutor,
    TutorLimits,
    TutorQualification,
    User,
)
from scheduling.series import book_series

__all__ = [
    "AvailabilityException",
    "AvailabilityRule",
    "BookingConflict",
    "CalendarFeed",
    "Guardian",
    "Guardianship",
    "LiveSession",
    "Organization",
    "Role",
    "SeriesConflict",
    "SessionSeries",
    "SessionStatus",
    "SessionStudent",
    "Student",
    "Tutor",
    "TutorLimits",
    "TutorQualification",
    "User",
    "book_series",
    "book_session",
]
