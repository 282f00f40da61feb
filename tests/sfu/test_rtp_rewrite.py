"""Renumbering a send slot's stream: pure arithmetic, checked without a network."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sfu.rtp_rewrite import (
    SEQ_MOD,
    TS_MOD,
    StreamRewriter,
    Vp8Descriptor,
    is_keyframe_start,
    seq_newer,
)


def _rewriter(first_seq: int = 100, first_ts: int = 1000) -> StreamRewriter:
    return StreamRewriter(clock_rate=90_000, min_gap=3000, first_seq=first_seq, first_ts=first_ts)


def test_seq_newer_wraps() -> None:
    assert seq_newer(1, 0) and not seq_newer(0, 1)
    assert seq_newer(0, SEQ_MOD - 1)  # 65535 -> 0 is one step forward
    assert not seq_newer(5, 5)


def test_a_run_starts_where_the_leg_left_off() -> None:
    r = _rewriter()
    out = [r.rewrite(5000 + i, 7000 + 3000 * i, i / 30) for i in range(3)]
    assert [o.sequence_number for o in out] == [100, 101, 102]  # type: ignore[union-attr]
    assert [o.timestamp for o in out] == [1000, 4000, 7000]  # type: ignore[union-attr]


def test_reordered_packets_keep_their_place_and_older_ones_are_refused() -> None:
    r = _rewriter()
    assert r.rewrite(10, 0, 0.0).sequence_number == 100  # type: ignore[union-attr]
    assert r.rewrite(12, 0, 0.0).sequence_number == 102  # type: ignore[union-attr]
    assert r.rewrite(11, 0, 0.0).sequence_number == 101  # late, but within the run
    assert r.rewrite(9, 0, 0.0) is None  # from before the run: the receiver never expects it
    assert r.rewrite(13, 0, 0.0).sequence_number == 103  # type: ignore[union-attr]


def test_a_resume_collapses_the_held_packets_but_keeps_the_timeline() -> None:
    r = _rewriter()
    r.rewrite(10, 3000, 0.0)
    r.restart(new_source=False)
    out = r.rewrite(60, 3000 + 90_000, 1.0)  # 49 packets held back, one second later
    assert out is not None
    assert out.sequence_number == 101
    assert out.timestamp == 1000 + 90_000


def test_a_switch_advances_the_timestamp_by_the_time_that_passed() -> None:
    r = _rewriter()
    r.rewrite(10, 3000, 0.0)
    r.restart(new_source=True)
    out = r.rewrite(40000, 123, 2.0)  # another publisher, its own numbers, two seconds later
    assert out is not None
    assert out.sequence_number == 101
    assert out.timestamp == 1000 + 2 * 90_000
    r.restart(new_source=True)
    soon = r.rewrite(7, 5, 2.0)  # no time passed: the minimum gap still separates them
    assert soon is not None and soon.timestamp == out.timestamp + 3000


def test_picture_ids_follow_on_across_a_switch() -> None:
    r = _rewriter()
    assert r.rewrite(1, 0, 0.0, picture_id=500).picture_id is None  # type: ignore[union-attr]
    r.restart(new_source=True)
    out = r.rewrite(900, 0, 0.1, picture_id=32000)
    assert out is not None and out.picture_id == 501


@given(
    start=st.integers(0, SEQ_MOD - 1),
    ts=st.integers(0, TS_MOD - 1),
    first=st.integers(0, SEQ_MOD - 1),
    n=st.integers(1, 300),
)
def test_a_run_is_contiguous_across_wrap_around(start: int, ts: int, first: int, n: int) -> None:
    r = _rewriter(first_seq=first)
    seqs = [
        r.rewrite((start + i) % SEQ_MOD, (ts + 3000 * i) % TS_MOD, i / 30).sequence_number  # type: ignore[union-attr]
        for i in range(n)
    ]
    assert seqs == [(first + i) % SEQ_MOD for i in range(n)]


def _vp8(*, start: bool, key: bool, picture_id: int | None, bits: int = 15) -> bytes:
    first = 0x10 if start else 0x00
    if picture_id is None:
        return bytes((first,)) + (b"\x10" if key else b"\x11") + b"payload"
    pid = bytes((0x80 | picture_id >> 8, picture_id & 0xFF)) if bits == 15 else bytes((picture_id,))
    return bytes((0x80 | first, 0x80)) + pid + (b"\x10" if key else b"\x11") + b"payload"


def test_vp8_descriptor_finds_keyframes_and_picture_ids() -> None:
    key = Vp8Descriptor.parse(_vp8(start=True, key=True, picture_id=1234))
    assert key is not None and key.keyframe_start and key.picture_id == 1234
    delta = Vp8Descriptor.parse(_vp8(start=True, key=False, picture_id=1235))
    assert delta is not None and delta.start and not delta.keyframe_start
    middle = Vp8Descriptor.parse(_vp8(start=False, key=True, picture_id=1234))
    assert middle is not None and not middle.keyframe_start  # not the frame's first packet
    short = Vp8Descriptor.parse(_vp8(start=True, key=True, picture_id=None))
    assert short is not None and short.keyframe_start and short.picture_id is None
    assert Vp8Descriptor.parse(b"") is None
    assert Vp8Descriptor.parse(b"\x90\x80") is None  # truncated
    assert is_keyframe_start("audio", b"")
    assert not is_keyframe_start("video", _vp8(start=True, key=False, picture_id=3))


def test_vp8_picture_id_is_rewritten_in_its_own_width() -> None:
    wide = _vp8(start=True, key=True, picture_id=1234)
    descriptor = Vp8Descriptor.parse(wide)
    assert descriptor is not None
    rewritten = Vp8Descriptor.parse(descriptor.with_picture_id(wide, 77))
    assert rewritten is not None and rewritten.picture_id == 77 and rewritten.picture_id_bits == 15
    narrow = _vp8(start=True, key=True, picture_id=100, bits=7)
    descriptor = Vp8Descriptor.parse(narrow)
    assert descriptor is not None and descriptor.picture_id_bits == 7
    out = descriptor.with_picture_id(narrow, 130)
    assert len(out) == len(narrow)
    assert Vp8Descriptor.parse(out).picture_id == 2  # type: ignore[union-attr]
