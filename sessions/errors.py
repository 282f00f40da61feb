"""Errors of the session lifecycle and of its documentation chain.

Hierarchy::

    core.errors.Conflict                (409 conflict)
    ├── InvalidTransition               (409 invalid_transition: names the current state)
    ├── TranscriptPending               (409 transcript_pending: not transcribed yet)
    └── TranscriptionGaveUp             (409 transcript_failed: a replay can bring it back)
    core.errors.NotFound                (404 not_found)
    ├── NoTranscript                    (404 no_transcript: nothing was recorded or may be
    │                                    transcribed)
    └── NothingToReport                 (404 nothing_to_report: no held session in the
                                         period of a progress report)
"""

from __future__ import annotations

from core.errors import Conflict, NotFound


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TranscriptPending(Conflict):
    """The session's recording is not transcribed yet (or not handed over yet)."""

    code = "transcript_pending"


class TranscriptionGaveUp(Conflict):
    """The transcription handler failed on the session's recording and stopped trying."""

    code = "transcript_failed"


class NoTranscript(NotFound):
    """There is nothing to transcribe: nothing was recorded, or nothing may be."""

    code = "no_transcript"


class NothingToReport(NotFound):
    """The student had no held session in the period a progress report was asked for."""

    code = "nothing_to_report"
