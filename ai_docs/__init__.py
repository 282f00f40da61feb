"""Transcription, captions, summaries and briefings (recording and AI issue).

Audio files and text in, documents out; no database here. ``Transcriber`` turns
per-speaker tracks into one ``Transcript`` (faster-whisper), ``to_webvtt`` gives
captions; ``draft_document`` turns a session's transcript into a
``SessionDocument`` (by an OpenAI-compatible model when one is configured, else,
or when it fails, by the offline drafter); ``brief_offline`` turns a student's
last few documents into a ``Briefing`` for the tutor.
"""

from ai_docs.audio import probe_duration
from ai_docs.captions import to_webvtt
from ai_docs.documents import (
    Analysis,
    Briefing,
    BriefingItem,
    ComprehensionCheck,
    DocumentContent,
    Item,
    SessionDocument,
    SourceSegment,
    SourceTranscript,
    Summary,
    segment_context,
)
from ai_docs.errors import (
    AiDocsError,
    AudioNotFound,
    AudioUnreadable,
    DraftingFailed,
    ModelBusy,
    ModelOutputInvalid,
    ModelRejected,
    ModelTimedOut,
    ModelUnavailable,
    ModelUnreachable,
    TranscriptionFailed,
)
from ai_docs.model_client import ModelOptions, model_configured
from ai_docs.model_drafter import ModelDrafter, draft_document
from ai_docs.offline_briefing import brief_offline
from ai_docs.offline_summary import analyse, draft_offline
from ai_docs.transcript import Segment, Track, Transcript
from ai_docs.transcription import ProgressCallback, Transcriber, WhisperOptions
from ai_docs.wer import word_error_rate

__all__ = [
    "AiDocsError",
    "Analysis",
    "AudioNotFound",
    "AudioUnreadable",
    "Briefing",
    "BriefingItem",
    "ComprehensionCheck",
    "DocumentContent",
    "DraftingFailed",
    "Item",
    "ModelBusy",
    "ModelDrafter",
    "ModelOptions",
    "ModelOutputInvalid",
    "ModelRejected",
    "ModelTimedOut",
    "ModelUnavailable",
    "ModelUnreachable",
    "ProgressCallback",
    "Segment",
    "SessionDocument",
    "SourceSegment",
    "SourceTranscript",
    "Summary",
    "Track",
    "Transcriber",
    "Transcript",
    "TranscriptionFailed",
    "WhisperOptions",
    "analyse",
    "brief_offline",
    "draft_document",
    "draft_offline",
    "model_configured",
    "probe_duration",
    "segment_context",
    "to_webvtt",
    "word_error_rate",
]
