"""Drafting with a model: a real llama.cpp server on loopback, and the offline fallback.

The model is SmolLM2-135M: weak content, but a real OpenAI-compatible API, so the
plumbing (structured output, validation, repair, retries, chunking) is tested
for real. Fakes of the API (httpx2's MockTransport, the client's own transport
interface) only add cases a real server cannot be made to produce on demand.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2
import pytest
from openai import AsyncOpenAI

from ai_docs.documents import DocumentContent, Item, SessionDocument, SourceTranscript, Summary
from ai_docs.errors import ModelOutputInvalid, ModelRejected, ModelTimedOut
from ai_docs.model_client import ModelOptions, model_configured
from ai_docs.model_drafter import ModelDrafter, chunk, draft_document, merge
from ai_docs.offline_summary import draft_offline
from api.settings import Settings
from tests.ai_docs.conftest import ModelServer, free_port
from tests.ai_docs.transcripts import crafted


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _model_settings(server: ModelServer, **values: Any) -> Settings:
    values.setdefault("llm_structured_output", "json_object_schema")
    return _settings(openai_base_url=server.base_url, llm_model=server.model, **values)


async def test_model_drafts_a_schema_valid_document(model_server: ModelServer) -> None:
    """A short transcript drafted by the real model is valid and says which model wrote it."""
    transcript = crafted()
    started = time.monotonic()
    document = await draft_document(transcript, settings=_model_settings(model_server))
    elapsed = time.monotonic() - started
    assert document.drafted_by == f"model:{model_server.model}"
    assert document.fallback_reason is None, document.fallback_reason
    assert document.automatic is True
    assert document.label == "automatic draft"
    document.for_transcript(transcript)
    SessionDocument.model_validate_json(document.model_dump_json())
    # Measurements are code's, not the model's: the same as the offline drafter's.
    assert document.analysis == draft_offline(transcript).analysis
    print(f"model path, {len(transcript.segments)} segments: {elapsed:.1f} s")


async def test_long_transcript_is_drafted_in_chunks(model_server: ModelServer) -> None:
    """Chunks are drafted separately, cite only their own lines, and merge into one document."""
    transcript = crafted()
    options = ModelOptions(
        base_url=model_server.base_url,
        model=model_server.model,
        structured_output="json_object_schema",
        chunk_chars=550,
    )
    parts = chunk(transcript, options.chunk_chars)
    assert [len(part) for part in parts] == [7, 5]
    async with ModelDrafter(options) as drafter:
        second = await drafter.adraft_chunk(parts[1])
        document = await drafter.adraft(transcript)
    cited = {i for item in [*second.topics, *second.homework] for i in item.segments}
    assert cited <= {7, 8, 9, 10, 11}
    document.for_transcript(transcript)
    assert document.drafted_by == f"model:{model_server.model}"


async def test_truncated_answers_are_repaired_once_then_fall_back(
    model_server: ModelServer,
) -> None:
    """An answer cut off by max_tokens fails validation, gets one repair try, then offline."""
    transcript = crafted()
    options = ModelOptions(
        base_url=model_server.base_url,
        model=model_server.model,
        structured_output="json_object_schema",
        max_tokens=40,
    )
    async with ModelDrafter(options) as drafter:
        with pytest.raises(ModelOutputInvalid, match="after one repair") as caught:
            await drafter.adraft(transcript)
        assert drafter.repairs == 1
    assert caught.value.retryable is False
    assert caught.value.__cause__ is not None


async def test_refused_response_format_falls_back_offline(model_server: ModelServer) -> None:
    """llama.cpp answers OpenAI's json_schema with a 5xx: retried, then offline with a reason."""
    settings = _model_settings(model_server, llm_structured_output="json_schema", llm_max_retries=1)
    document = await draft_document(crafted(), settings=settings)
    assert document.drafted_by == "offline"
    assert document.fallback_reason is not None
    assert document.fallback_reason.startswith("model_busy: ")


async def test_server_down_falls_back_to_offline() -> None:
    """With nothing listening at the base URL the offline drafter writes it and says why."""
    transcript = crafted()
    settings = _settings(
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        llm_model="absent",
        llm_max_retries=1,
        llm_timeout_seconds=5,
    )
    assert model_configured(settings)
    document = await draft_document(transcript, settings=settings)
    assert document.drafted_by == "offline"
    assert document.fallback_reason is not None
    assert document.fallback_reason.startswith("model_unreachable: cannot reach")
    offline = draft_offline(transcript, fallback_reason=document.fallback_reason)
    assert document == offline


async def test_no_model_configured_means_offline() -> None:
    """Unset base URL or model: the offline drafter, and no fallback to report."""
    assert not model_configured(_settings(openai_base_url="http://127.0.0.1:1/v1"))
    document = await draft_document(crafted(), settings=_settings())
    assert document.drafted_by == "offline"
    assert document.fallback_reason is None


# --- additional unit tests against a fake of the API's transport -------------------------


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
    }


def _valid_content(transcript: SourceTranscript) -> str:
    document = draft_offline(transcript)
    return DocumentContent.model_validate(
        document.model_dump(include=set(DocumentContent.model_fields))
    ).model_dump_json()


class FakeApi:
    """Answers chat completions from a script of (status, body) replies, recording requests."""

    def __init__(self, replies: list[tuple[int, str]], *, delay: float = 0.0) -> None:
        self.replies = replies
        self.delay = delay
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, content = self.replies.pop(0)
        if status != 200:
            return httpx2.Response(status, json={"error": {"message": content}})
        return httpx2.Response(200, json=_completion(content))

    def client(self) -> AsyncOpenAI:
        transport = httpx2.MockTransport(self.handle)
        return AsyncOpenAI(
            base_url="http://model.invalid/v1",
            api_key="k",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )


def _options(**values: Any) -> ModelOptions:
    return ModelOptions(
        **{"base_url": "http://model.invalid/v1", "model": "fake", "retry_interval": 0, **values}
    )


async def test_repair_sends_the_validation_errors_back() -> None:
    """An answer citing a missing segment is sent back with the problem; the fix is used."""
    transcript = crafted()
    bad = json.loads(_valid_content(transcript))
    bad["homework"][0]["segments"] = [99]
    api = FakeApi([(200, json.dumps(bad)), (200, _valid_content(transcript))])
    async with api.client() as client, ModelDrafter(_options(), client=client) as drafter:
        document = await drafter.adraft(transcript)
    assert drafter.repairs == 1
    assert document.drafted_by == "model:fake"
    repair = api.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": json.dumps(bad)}
    assert "homework.0.segments" in repair[-1]["content"]
    assert "[99] do not exist" in repair[-1]["content"]
    assert api.requests[0]["response_format"]["type"] == "json_schema"


async def test_retryable_errors_are_retried_and_others_are_not() -> None:
    """A 503 is retried; a 401 fails at once with a message naming the settings."""
    transcript = crafted()
    api = FakeApi([(503, "busy"), (200, _valid_content(transcript))])
    async with api.client() as client, ModelDrafter(_options(), client=client) as drafter:
        await drafter.adraft(transcript)
    assert len(api.requests) == 2

    api = FakeApi([(401, "bad key"), (200, _valid_content(transcript))])
    async with api.client() as client, ModelDrafter(_options(), client=client) as drafter:
        with pytest.raises(ModelRejected, match="LIVECLASS_OPENAI_API_KEY"):
            await drafter.adraft(transcript)
    assert len(api.requests) == 1


async def test_timeouts_are_retried_then_reported() -> None:
    """A model slower than the timeout is tried 1 + max_retries times, then times out."""
    api = FakeApi([(200, "{}")] * 3, delay=5)
    options = _options(timeout=0.2, max_retries=2)
    async with api.client() as client, ModelDrafter(options, client=client) as drafter:
        with pytest.raises(ModelTimedOut) as caught:
            await drafter.adraft(crafted())
    assert len(api.requests) == 3
    assert caught.value.retryable is True


async def test_json_object_mode_puts_the_schema_in_the_prompt() -> None:
    """Plain json_object mode sends the schema in the system prompt and strips code fences."""
    transcript = crafted()
    api = FakeApi([(200, "```json\n" + _valid_content(transcript) + "\n```")])
    options = _options(structured_output="json_object")
    async with api.client() as client, ModelDrafter(options, client=client) as drafter:
        await drafter.adraft(transcript)
    assert api.requests[0]["response_format"] == {"type": "json_object"}
    assert '"parent_summary"' in api.requests[0]["messages"][0]["content"]
    assert drafter.repairs == 0


def test_merge_interleaves_chunks_and_dedupes() -> None:
    """Merged content takes items from every chunk in turn, once each, within the limits."""

    def content(topics: list[str], first: int, summary: str) -> DocumentContent:
        return DocumentContent(
            topics=[Item(text=t, segments=[first + i]) for i, t in enumerate(topics)],
            went_well=[],
            difficulties=[],
            comprehension_checks=[],
            homework=[],
            next_focus=[Item(text=f"after {first}", segments=[first])],
            parent_summary=Summary(text=summary, segments=[first]),
        )

    merged = merge(
        [
            content(["fractions", "decimals"], 0, "Part one."),
            content(["Fractions", "ratios"], 5, "Part two."),
        ]
    )
    assert [t.text for t in merged.topics] == ["fractions", "decimals", "ratios"]
    assert [f.text for f in merged.next_focus] == ["after 5", "after 0"]
    assert merged.parent_summary.text == "Part one. Part two."
    assert merged.parent_summary.segments == [0, 5]
