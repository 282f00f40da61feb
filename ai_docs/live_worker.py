"""The live transcription worker: a process of its own, so forwarding never waits for Whisper.

``ai_docs.live.LiveTranscriber`` starts these with ``multiprocessing``'s spawn
method (a fresh interpreter: nothing of the server's event loop or threads is
inherited) and talks to each through two queues of plain tuples:

in (``inbox``)::

    ("open", stream)                 a new file's audio begins
    ("audio", stream, frames)        [(position in 48 kHz samples, Opus packet)]
    ("finish", stream)               the file ended: transcribe what is left
    ("drop", stream)                 forget it (its caller gave up)
    ("stop",)                        end the process

out (``outbox``)::

    ("ready",) or ("unavailable", message)    once, after loading the models
    ("heard", stream, segments, upto)         after each "audio"
    ("finished", stream, segments, upto)      after "finish"
    ("failed", stream, message)               the stream's audio could not be handled

``segments`` are ``(start, end, text)`` in seconds of the file; ``upto`` says how
far into the file the stream has been heard and cut. The process lowers its own
priority (``nice``) so that on a busy machine the media plane is served first.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs Whisper (``ai_docs.transcription.WhisperOptions``' fields)."""

    model: str
    device: str = "cpu"
    compute_type: str = "int8"
    threads: int = 1
    beam_size: int = 1
    nice: int = 10


def run(inbox: Queue[Any], outbox: Queue[Any], options: WorkerOptions) -> None:
    """The worker process's main function."""
    with contextlib.suppress(OSError):
        os.nice(options.nice)
    # Imported here: the parent imports this module only to name this function.
    from ai_docs._whisper import VoiceActivity, WhisperModel
    from ai_docs.live_stream import StreamTranscriber

    try:
        model = WhisperModel(
            options.model,
            device=options.device,
            compute_type=options.compute_type,
            threads=options.threads,
            workers=1,
        )
        VoiceActivity()  # loads the model now: a failure shows here, once
    except Exception as exc:  # ModelUnavailable, onnxruntime
        outbox.put(("unavailable", str(exc)))
        return
    outbox.put(("ready",))
    streams: dict[str, StreamTranscriber] = {}
    while True:
        message = inbox.get()
        kind = message[0]
        if kind == "stop":
            break
        stream = message[1]
        try:
            if kind == "open":
                streams[stream] = StreamTranscriber(model, beam_size=options.beam_size)
            elif kind == "audio":
                if stream in streams:
                    heard = streams[stream].feed(message[2])
                    outbox.put(("heard", stream, _plain(heard.segments), heard.upto))
            elif kind == "finish":
                if stream in streams:
                    heard = streams.pop(stream).finish()
                    outbox.put(("finished", stream, _plain(heard.segments), heard.upto))
            elif kind == "drop":
                streams.pop(stream, None)
        except Exception as exc:  # PyAV, onnxruntime, CTranslate2: this stream only
            streams.pop(stream, None)
            outbox.put(("failed", stream, f"{type(exc).__name__}: {exc}"))


def _plain(segments: list[Any]) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in segments]
