"""bench.packet_bot's replay: what a publisher's stream must look like for the SFU to forward it."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.packet_bot import Metronome, Pacer, packetize
from sfu.rtp_rewrite import SEQ_MOD, Vp8Descriptor
from sfu.synthetic import audio_loop, video_loop


class _Sender:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.started.set()
        self.sent: list[tuple[int, int, int, bytes, Any]] = []

    def send(self, source: Any, seq: int, ts: int, payload: bytes) -> bool:
        level = source.extensions.audio_level
        self.sent.append((seq, ts, source.marker, payload, level))
        return True


async def _replay(pacer: Pacer, frames: int) -> None:
    task = asyncio.create_task(pacer.run())
    while pacer.frames_sent < frames:
        await asyncio.sleep(0.01)
    task.cancel()


async def test_video_replays_with_fresh_numbering_picture_ids_and_markers() -> None:
    loop = video_loop(size=(160, 120), fps=30)
    packed = packetize(loop)
    assert packetize(loop) is packed  # packed once per loop
    sender = _Sender()
    pacer = Pacer(packed, sender)  # type: ignore[arg-type]
    await _replay(pacer, 6)
    seqs = [s[0] for s in sender.sent]
    assert all((b - a) % SEQ_MOD == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    frames: dict[int, list[tuple[int, int, int, bytes, Any]]] = {}
    for packet in sender.sent:
        frames.setdefault(packet[1], []).append(packet)
    ids = []
    for packets in frames.values():
        assert [p[2] for p in packets] == [0] * (len(packets) - 1) + [1]  # marker on the last
        descriptors = [Vp8Descriptor.parse(p[3]) for p in packets]
        assert len({d.picture_id for d in descriptors if d is not None}) == 1
        ids.append(descriptors[0].picture_id)  # type: ignore[union-attr]
    assert all((b - a) % (1 << 15) == 1 for a, b in zip(ids, ids[1:], strict=False))
    first = sender.sent[0][3]
    assert Vp8Descriptor.parse(first).keyframe_start  # type: ignore[union-attr]
    # A keyframe request: the next frame sent is the loop's keyframe.
    pacer.request_keyframe()
    sender.sent.clear()
    await _replay(pacer, pacer.frames_sent + 1)
    assert Vp8Descriptor.parse(sender.sent[0][3]).keyframe_start  # type: ignore[union-attr]


async def test_audio_replays_one_packet_a_frame_with_its_level() -> None:
    loop = audio_loop()
    sender = _Sender()
    await _replay(Pacer(packetize(loop), sender), 5)  # type: ignore[arg-type]
    assert len(sender.sent) >= 5
    assert {p[2] for p in sender.sent} == {1}
    assert {p[4] for p in sender.sent} == {(False, loop.audio_level)}
    assert [p[3] for p in sender.sent[:5]] == list(loop.frames[:5])


async def test_metronome_paces_every_track_from_one_task_once_its_sender_started() -> None:
    """Each track gets its own frame rate; a track whose leg is not up yet sends nothing."""
    audio, video = _Sender(), _Sender()
    waiting = _Sender()
    waiting.started.clear()
    metronome = Metronome(tick=0.005)
    pacers = [
        Pacer(packetize(audio_loop()), audio),  # type: ignore[arg-type]
        Pacer(packetize(video_loop(size=(160, 120), fps=15)), video),  # type: ignore[arg-type]
        Pacer(packetize(audio_loop()), waiting),  # type: ignore[arg-type]
    ]
    for pacer in pacers:
        metronome.add(pacer)
    metronome.start()
    try:
        while pacers[0].frames_sent < 16:
            await asyncio.sleep(0.01)
        assert pacers[2].frames_sent == 0 and waiting.sent == []
        # Both started on the same tick: after 20 ms audio frames, this many 1/15 s frames.
        elapsed = (pacers[0].frames_sent - 1) * 0.020
        assert abs(pacers[1].frames_sent - (int(elapsed * 15) + 1)) <= 1
        assert len({s[0] for s in audio.sent}) == len(audio.sent)  # no packet sent twice
        waiting.started.set()
        while pacers[2].frames_sent < 2:
            await asyncio.sleep(0.01)
    finally:
        await metronome.aclose()
    sent = pacers[0].frames_sent
    await asyncio.sleep(0.05)
    assert pacers[0].frames_sent == sent  # closed: nothing more goes out
