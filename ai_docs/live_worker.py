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
far into the file the stream has been heard and cut. The process runs in Linux's
idle scheduling class (else niced) so that on a busy machine the media plane is
always served first.
"""

from __future__ import annotations

import contextlib
import os
import queue
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
    _yield_to_media(options.nice)
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
    parent = os.getppid()
    while True:
        try:
            message = inbox.get(timeout=1.0)
        except queue.Empty:
            # A parent killed (not stopped) would leave this process waiting for ever,
            # holding its pipes open: when it is gone, so is this.
            if os.getppid() != parent:
                return
            continue
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


def _yield_to_media(nice: int) -> None:
    """Run only on CPU nobody else wants (Linux's SCHED_IDLE), else at a lower priority.

    Niced by 10, the worker still took a tenth of a core the SFU needed when both
    shared one (60 recorded sessions, ``make bench-live``), and delivery dropped to
    98%; in the idle class the media process is never kept waiting, and a worker
    that starves falls behind and gives its streams up (transcribed afterwards).
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(nice)


def _plain(segments: list[Any]) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in segments]
