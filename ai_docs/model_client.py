"""Talking to an OpenAI-compatible model: its options, schema-constrained requests, retries.

The model is configured by ``LIVECLASS_OPENAI_BASE_URL`` and ``LIVECLASS_LLM_MODEL``
(``ModelOptions.from_settings``). ``ModelClient`` asks for an answer in a JSON
schema in one of three ways because providers differ
(``LIVECLASS_LLM_STRUCTURED_OUTPUT``): OpenAI's ``json_schema``, llama.cpp's
``{"type": "json_object", "schema": ...}`` (it refuses ``json_schema``), or plain
``json_object`` (the caller then puts the schema in the prompt). It retries only
what is retryable and turns ``openai``'s errors into ours (``ai_docs.errors``).

It knows nothing of what is asked or of the answer's meaning: drafting a session
document with it is ``ai_docs.model_drafter``'s business.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from ai_docs.errors import DraftingFailed, ModelBusy, ModelRejected, ModelTimedOut, ModelUnreachable
from ai_docs.settings import AIDocsSettings
from core.logging import get_logger

__all__ = ["ModelClient", "ModelOptions", "StructuredOutput", "model_configured"]

log = get_logger(__name__)

StructuredOutput = Literal["json_schema", "json_object_schema", "json_object"]


@dataclass(frozen=True)
class ModelOptions:
    """Everything about talking to the model, validated in one place.

    Args:
        base_url: the API's base URL (``.../v1``).
        model: the model name sent with each request.
        api_key: the key, or None for a local server that needs none.
        structured_output: how the schema is asked for (see the module docstring).
        timeout: seconds one request may take.
        max_retries: retries of a retryable failure, ``retry_interval`` apart, doubling.
        max_tokens: the most tokens one answer may have.
        chunk_chars: transcript characters per request; longer transcripts are chunked.
    """

    base_url: str
    model: str
    api_key: str | None = None
    structured_output: StructuredOutput = "json_schema"
    timeout: float = 120.0
    max_retries: int = 2
    retry_interval: float = 1.0
    max_tokens: int = 1500
    chunk_chars: int = 6000

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_retries < 0 or self.retry_interval < 0:
            raise ValueError("timeout must be positive, retries and their interval 0 or more")
        if self.chunk_chars < 200 or self.max_tokens < 16:
            raise ValueError("chunk_chars must be 200 or more, max_tokens 16 or more")

    @classmethod
    def from_settings(cls, settings: AIDocsSettings) -> ModelOptions | None:
        """The options the settings describe, or None when no model is configured."""
        if settings.openai_base_url is None or settings.llm_model is None:
            return None
        key = settings.openai_api_key
        return cls(
            base_url=settings.openai_base_url,
            model=settings.llm_model,
            api_key=key.get_secret_value() if key is not None else None,
            structured_output=settings.llm_structured_output,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )


def model_configured(settings: AIDocsSettings) -> bool:
    """Whether documents are drafted by a model (else by the offline drafter)."""
    return ModelOptions.from_settings(settings) is not None


def _translate(exc: Exception, options: ModelOptions) -> DraftingFailed:
    """Our error for an ``openai`` (or timeout) error; the caller chains it."""
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return ModelTimedOut(
            f"the model did not answer within {options.timeout:g} s; raise "
            "LIVECLASS_LLM_TIMEOUT_SECONDS or use a faster model"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnreachable(
            f"cannot reach the model API at {options.base_url}; check that it runs and "
            "LIVECLASS_OPENAI_BASE_URL"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429 or status >= 500:
            return ModelBusy(f"the model API answered HTTP {status}; it will be tried again")
        return ModelRejected(
            f"the model API refused the request with HTTP {status}; check "
            "LIVECLASS_OPENAI_API_KEY, LIVECLASS_LLM_MODEL and LIVECLASS_LLM_STRUCTURED_OUTPUT"
        )
    return ModelRejected(f"the model API failed unexpectedly ({type(exc).__name__})")


class ModelClient:
    """One OpenAI-compatible model's chat completions; owns its client unless given one."""

    def __init__(self, options: ModelOptions, *, client: AsyncOpenAI | None = None) -> None:
        self.options = options
        self._owns_client = client is None
        self._client = client or AsyncOpenAI(
            base_url=options.base_url,
            # Local servers need no key, but the client insists on one.
            api_key=options.api_key or "unused",
            timeout=options.timeout,
            max_retries=0,  # we retry ourselves, only what is retryable
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _request(
        self, messages: list[ChatCompletionMessageParam], schema: dict[str, Any], name: str
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "temperature": 0,
            "seed": 0,
            "max_tokens": self.options.max_tokens,
        }
        mode = self.options.structured_output
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema},
            }
        elif mode == "json_object_schema":
            # llama.cpp's own variant; the typed client does not know it, so it rides
            # in the body as is.
            kwargs["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        else:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def acomplete(
        self,
        messages: list[ChatCompletionMessageParam],
        *,
        schema: dict[str, Any],
        name: str,
    ) -> str:
        """One answer (its text, "" when there is none), retrying retryable failures with
        doubling pauses.

        Args:
            messages: the conversation so far.
            schema: the JSON schema the answer should fit, asked for as the options say.
            name: the schema's name, for providers that take one (``json_schema``).

        Raises:
            DraftingFailed: the API failed, after retries of what is retryable.
        """
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.options.timeout):
                    response = await self._client.chat.completions.create(
                        **self._request(messages, schema, name)
                    )
                if not response.choices:
                    return ""
                return response.choices[0].message.content or ""
            except (TimeoutError, openai.OpenAIError) as exc:
                error = _translate(exc, self.options)
                if not error.retryable or attempt >= self.options.max_retries:
                    raise error from exc
                pause = self.options.retry_interval * 2**attempt
                log.warning(
                    "model request failed; retrying",
                    code=error.code,
                    attempt=attempt + 1,
                    pause_seconds=pause,
                )
                attempt += 1
                await asyncio.sleep(pause)
