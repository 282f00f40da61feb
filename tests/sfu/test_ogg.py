"""The Ogg Opus writer: files any decoder plays, timed by the caller's timeline, gaps as silence."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np

from sfu.ogg import OggOpusWriter, ogg_crc, opus_samples
from sfu.synthetic import AUDIO_FRAME, AUDIO_RATE, audio_loop


def _pages(data: bytes) -> list[dict[str, int]]:
    """Each page's header fields, checking its capture pattern and CRC on the way."""
    pages = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        _, flags, granule, serial, seq, crc, count = struct.unpack_from("<BBqIIIB", data, pos + 4)
        lacing = data[pos + 27 : pos + 27 + count]
        end = pos + 27 + count + sum(lacing)
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        assert ogg_crc(bytes(page)) == crc, f"bad CRC on page {seq}"
        pages.append({"flags": flags, "granule": granule, "serial": serial, "seq": seq})
        pos = end
    return pages


def _decode(path: Path) -> np.ndarray:
    """The decoded file's first channel (decoding is the test's job, never the SFU's)."""
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray()[0] for frame in container.decode(audio=0)]
    return np.concatenate(chunks)


def _write(path: Path, packets: list[tuple[bytes, int | None]]) -> OggOpusWriter:
    with path.open("wb") as f:
        writer = OggOpusWriter(f, serial=1234)
        for data, at in packets:
            writer.write(data, at=at)
        writer.close()
    return writer


def test_packets_in_order_make_a_file_pyav_decodes(tmp_path: Path) -> None:
    """One second of the bot's Opus tone, muxed as is, decodes to one second of tone."""
    frames = audio_loop().frames
    path = tmp_path / "tone.opus.ogg"
    _write(path, [(f, i * AUDIO_FRAME) for i, f in enumerate(frames)])
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert container.duration is not None
        assert abs(container.duration / 1e6 - 1.0) < 0.03
        # The packets come back byte for byte: muxed, never re-encoded.
        assert [bytes(p) for p in container.demux(stream) if p.size] == list(frames)
    pcm = _decode(path)
    assert abs(len(pcm) - AUDIO_RATE) <= AUDIO_FRAME
    assert np.abs(pcm[AUDIO_FRAME:]).max() > 0.1  # the tone, amplitude 0.2


def test_pages_are_valid_and_granules_follow_the_timestamps(tmp_path: Path) -> None:
    """Head and tags pages first, CRCs right, granule = samples up to the page's last packet."""
    frames = audio_loop().frames
    path = tmp_path / "gappy.opus.ogg"
    # The second half of the packets is due 3 s later than the count says.
    placed = [
        (f, i * AUDIO_FRAME + (3 * AUDIO_RATE if i >= 25 else 0)) for i, f in enumerate(frames)
    ]
    writer = _write(path, placed)
    data = path.read_bytes()
    pages = _pages(data)
    assert data[28:36] == b"OpusHead" and pages[0]["flags"] == 0x02
    assert b"OpusTags" in data[: 27 + 1 + 200] and pages[1]["granule"] == 0
    assert pages[-1]["flags"] == 0x04
    assert [p["seq"] for p in pages] == list(range(len(pages)))
    assert {p["serial"] for p in pages} == {1234}
    granules = [p["granule"] for p in pages[2:]]
    assert granules == sorted(granules)
    assert granules[-1] == 4 * AUDIO_RATE == writer.position  # 1 s of packets over 4 s
    with av.open(str(path)) as container:
        assert container.duration is not None
        assert abs(container.duration / 1e6 - 4.0) < 0.03


def test_a_gap_becomes_silence_of_its_length(tmp_path: Path) -> None:
    """Packets due 2.5 s after the previous ones leave 2.5 s of digital silence between them."""
    frames = audio_loop().frames
    half = len(frames) // 2
    gap = 2.5
    placed = [(f, i * AUDIO_FRAME) for i, f in enumerate(frames[:half])]
    resume = half * AUDIO_FRAME + round(gap * AUDIO_RATE)
    placed += [(f, resume + i * AUDIO_FRAME) for i, f in enumerate(frames[half:])]
    path = tmp_path / "gap.opus.ogg"
    writer = _write(path, placed)
    assert writer.silence_samples == round(gap * AUDIO_RATE)
    pcm = _decode(path)
    assert abs(len(pcm) / AUDIO_RATE - (1.0 + gap)) < 0.01
    start, end = half * AUDIO_FRAME, resume
    assert np.abs(pcm[start - AUDIO_FRAME : start - 2 * 120]).max() > 0.1  # tone before
    # The decoder's overlap fades the tone out within a few ms; then nothing.
    assert np.abs(pcm[start + AUDIO_FRAME : end]).max() < 1e-3
    # The decoder, resuming mid-stream, takes a few frames to reach full level again.
    assert np.abs(pcm[end + 5 * AUDIO_FRAME : end + 20 * AUDIO_FRAME]).max() > 0.1  # tone after


def test_late_packets_follow_on_and_unreadable_ones_are_skipped(tmp_path: Path) -> None:
    """A packet due before the end of the file follows right on; an empty one is refused."""
    frames = audio_loop().frames
    path = tmp_path / "late.opus.ogg"
    with path.open("wb") as f:
        writer = OggOpusWriter(f, serial=1)
        assert writer.write(frames[0], at=AUDIO_FRAME * 10)
        assert writer.write(frames[1], at=0)
        assert not writer.write(b"")
        writer.close()
    assert writer.position == 12 * AUDIO_FRAME
    assert opus_samples(frames[0]) == AUDIO_FRAME
    assert abs(len(_decode(path)) - 12 * AUDIO_FRAME) <= AUDIO_FRAME
