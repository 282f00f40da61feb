"""What the session lifecycle reads: its time-driven moves, exceptions and auto-approval."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from core.settings import LiveclassSettings
from sessions.consent import ConsentRule


class LifecycleSettings(LiveclassSettings):
    """The lifecycle sweep's timings, what it keeps, and whose consent counts."""

    consent_age: int = Field(
        default=13,
        ge=0,
        le=25,
        description="From this birthday on a student gives or withholds recording and AI "
        "consent themselves; younger, or with no date of birth on file, their guardians do "
        "(COPPA: 13; GDPR: 13 to 16 by country).",
    )

    def consent_rule(self, today: date) -> ConsentRule:
        """Whose consent counts on ``today`` (``sessions.consent``)."""
        return ConsentRule(age=self.consent_age, today=today)

    session_open_before_minutes: int = Field(
        default=10, ge=0, le=1440, description="How long before its start a session's room opens."
    )

    no_show_after_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="A session nobody has joined this long after its start becomes a no-show.",
    )

    end_grace_minutes: int = Field(
        default=15,
        ge=0,
        le=1440,
        description="A live session still going this long after its scheduled end is ended.",
    )

    empty_room_end_minutes: int = Field(
        default=5,
        ge=1,
        le=1440,
        description="A live session whose room has been empty this long is ended.",
    )

    lifecycle_sweep_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How often 'liveclass serve' makes the time-driven lifecycle moves (open, "
        "no-show, end); 0 turns the sweep off (another process runs it).",
    )

    tutor_no_show_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="An open or live session whose tutor has not joined this long after its "
        "start raises a tutor_no_show exception (with a list of substitutes).",
    )

    recording_wait_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="A session ended this long ago with no recording.ready event raises a "
        "no_recording exception.",
    )

    summary_auto_approve_minutes: int | None = Field(
        default=None,
        ge=0,
        le=10080,
        description="Approve a drafted session summary automatically this many minutes after it "
        "was drafted, if the tutor has not (it goes to the guardians labelled as automatic). "
        "Unset: only the tutor's approval sends it.",
    )

    retention_recordings_days: int = Field(
        default=30,
        ge=0,
        le=36_500,
        description="Days a session's recordings are kept after its document is approved "
        "(or, never approved, three times as long after the session ended). 0: kept.",
    )

    retention_transcripts_days: int = Field(
        default=365,
        ge=0,
        le=36_500,
        description="Days after a session ended that its transcript, live captions and chat "
        "are kept. 0: kept.",
    )

    retention_documents_days: int = Field(
        default=730,
        ge=0,
        le=36_500,
        description="Days after a session ended that its document (summary, briefings, "
        "drafted items) is kept. 0: kept.",
    )

    retention_presence_days: int = Field(
        default=365,
        ge=0,
        le=36_500,
        description="Days presence records (each join and leave) are kept; attendance "
        "figures stay. 0: kept.",
    )

    retention_emails_days: int = Field(
        default=90,
        ge=0,
        le=36_500,
        description="Days an email (sent, skipped or failed) is kept, body and attachment and "
        "its .eml file included. 0: kept.",
    )

    retention_audit_days: int = Field(
        default=1095,
        ge=0,
        le=36_500,
        description="Days audit log entries are kept. 0: kept.",
    )

    progress_report_period: Literal["month", "week", "off"] = Field(
        default="month",
        description="How often a progress report is drafted for each student who had a "
        "session: after each calendar month, after each week (Monday to Sunday), or 'off' "
        "(only when a coordinator or tutor asks). Drafts wait for review before they go.",
    )
