"""Errors of transcription and of drafting session documents.

Hierarchy::

    core.errors.LiveclassError
    └── AiDocsError                      (500 ai_docs_error)
        ├── TranscriptionFailed          (500 transcription_failed)
        │   ├── AudioNotFound            (404 audio_not_found: no file at that path)
        │   ├── AudioUnreadable          (422 audio_unreadable: not audio, or no audio stream)
        │   └── ModelUnavailable         (500 whisper_model_unavailable: LIVECLASS_WHISPER_* is
        │                                 wrong)
        └── DraftingFailed               (500 drafting_failed)
            ├── ModelUnreachable         (503 model_unreachable; retryable)
            ├── ModelTimedOut            (504 model_timed_out; retryable)
            ├── ModelBusy                (503 model_busy: 429 or 5xx; retryable)
            ├── ModelRejected            (502 model_rejected: 4xx, e.g. bad key or model)
            └── ModelOutputInvalid       (502 model_output_invalid: not the schema, even
                                          after one repair)

Third-party errors (PyAV, faster-whisper, CTranslate2, ``openai``) are translated
where they are raised and chained (``raise AudioUnreadable(...) from exc``); each
message says what to do next. Only ``retryable`` drafting errors are retried; the
drafting entry point catches ``DraftingFailed`` and falls back to the offline
drafter, recording the message as the document's ``fallback_reason``. Messages
carry no transcript text (they end up in logs and coordinator exceptions).
"""

from __future__ import annotations

from core.errors import LiveclassError


class AiDocsError(LiveclassError):
    code = "ai_docs_error"


class TranscriptionFailed(AiDocsError):
    """A recording could not be turned into a transcript."""

    code = "transcription_failed"


class AudioNotFound(TranscriptionFailed):
    """The audio file named for a track does not exist."""

    status_code = 404
    code = "audio_not_found"


class AudioUnreadable(TranscriptionFailed):
    """The file exists but holds no audio that can be decoded."""

    status_code = 422
    code = "audio_unreadable"


class ModelUnavailable(TranscriptionFailed):
    """The Whisper model named by the settings cannot be loaded."""

    code = "whisper_model_unavailable"


class DraftingFailed(AiDocsError):
    """The configured model did not produce a valid session document."""

    code = "drafting_failed"


class ModelUnreachable(DraftingFailed):
    """No connection to the model's API (refused, DNS, reset)."""

    status_code = 503
    code = "model_unreachable"
    retryable = True


class ModelTimedOut(DraftingFailed):
    """The model did not answer within LIVECLASS_LLM_TIMEOUT_SECONDS."""

    status_code = 504
    code = "model_timed_out"
    retryable = True


class ModelBusy(DraftingFailed):
    """The API answered 429 or 5xx: worth trying again later."""

    status_code = 503
    code = "model_busy"
    retryable = True


class ModelRejected(DraftingFailed):
    """The API refused the request (4xx): a setting is wrong; retrying will not help."""

    status_code = 502
    code = "model_rejected"


class ModelOutputInvalid(DraftingFailed):
    """The model's answer did not fit the schema, even after one repair attempt."""

    status_code = 502
    code = "model_output_invalid"
