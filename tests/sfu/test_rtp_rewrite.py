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


def test_dropped_packets_leave_no_gap_in_sequence_numbers_or_picture_ids() -> None:
    """A dropped layer's frames vanish: what is sent stays contiguous, so nothing is NACKed."""
    r = _rewriter()
    sent = []
    # Frames of two packets each, temporal layers 0, 2, 1, 2 ...; layer 2 is dropped.
    for frame in range(8):
        tid = (0, 2, 1, 2)[frame % 4]
        for k in range(2):
            seq, pic = 5000 + 2 * frame + k, 700 + frame
            if tid == 2:
                r.drop(seq, pic)
                continue
            out = r.rewrite(seq, 3000 * frame, frame / 15, picture_id=pic)
            assert out is not None
            sent.append((out.sequence_number, pic if out.picture_id is None else out.picture_id))
    assert [s for s, _ in sent] == list(range(100, 100 + len(sent)))
    assert [p for _, p in sent][::2] == list(range(700, 704))


def test_a_late_packet_keeps_the_number_it_would_have_had() -> None:
    """A retransmission from before a drop gets the number its place promised."""
    r = _rewriter()
    assert r.rewrite(10, 0, 0.0).sequence_number == 100  # type: ignore[union-attr]
    # 11 lost on the way in; 12 and 13 dropped on purpose; 14 sent.
    r.drop(12)
    r.drop(13)
    assert r.rewrite(14, 0, 0.0).sequence_number == 102  # type: ignore[union-attr]
    assert r.rewrite(11, 0, 0.0).sequence_number == 101  # type: ignore[union-attr]
    r.drop(12)  # a late copy of a dropped packet changes nothing
    assert r.rewrite(15, 0, 0.0).sequence_number == 103  # type: ignore[union-attr]


def test_drops_before_a_runs_first_packet_change_nothing() -> None:
    r = _rewriter()
    r.drop(9, 1)
    out = r.rewrite(10, 0, 0.0, picture_id=2)
    assert out is not None and out.sequence_number == 100 and out.picture_id is None


def test_tl0picidx_follows_on_across_a_switch() -> None:
    r = _rewriter()
    first = r.rewrite(1, 0, 0.0, picture_id=5, tl0picidx=250)
    assert first is not None and first.tl0picidx is None  # the first source's own numbers
    r.restart(new_source=True)
    out = r.rewrite(900, 0, 0.1, picture_id=100, tl0picidx=17)
    assert out is not None and out.tl0picidx == 251 and out.picture_id == 6


def test_vp8_descriptor_reads_temporal_layers_and_rewrites_both_ids() -> None:
    # X, then I, L, T; PictureID 15 bits = 300; TL0PICIDX 9; TID 2 with Y set.
    payload = bytes((0x90, 0xE0, 0x80 | 1, 44, 9, (2 << 6) | 0x20, 0x11)) + b"rest"
    d = Vp8Descriptor.parse(payload)
    assert d is not None and d.picture_id == 300 and d.tl0picidx == 9
    assert d.tid == 2 and d.temporal_layer == 2 and d.layer_sync
    out = Vp8Descriptor.parse(d.rewritten(payload, 4000, 200))
    assert out is not None and (out.picture_id, out.tl0picidx, out.tid) == (4000, 200, 2)
    assert d.rewritten(payload, None, None) == payload


@given(
    start=st.integers(0, SEQ_MOD - 1),
    pic=st.integers(0, (1 << 15) - 1),
    layers=st.lists(st.integers(0, 2), min_size=1, max_size=60),
    sizes=st.lists(st.integers(1, 3), min_size=60, max_size=60),
    keep=st.integers(0, 2),
)
def test_any_layer_choice_sends_a_contiguous_stream(
    start: int, pic: int, layers: list[int], sizes: list[int], keep: int
) -> None:
    """Whatever frames a subscriber's layer drops, its stream has no holes."""
    r = _rewriter()
    seq, seqs, pics = start, [], []
    for n, tid in enumerate(layers):
        for _ in range(sizes[n]):
            if tid > keep:
                r.drop(seq, (pic + n) % (1 << 15))
            else:
                out = r.rewrite(seq, 3000 * n, n / 15, picture_id=(pic + n) % (1 << 15))
                assert out is not None
                seqs.append(out.sequence_number)
                pics.append((pic + n) % (1 << 15) if out.picture_id is None else out.picture_id)
            seq = (seq + 1) % SEQ_MOD
    assert seqs == [(100 + i) % SEQ_MOD for i in range(len(seqs))]
    frames = list(dict.fromkeys(pics))
    assert all((b - a) % (1 << 15) == 1 for a, b in zip(frames, frames[1:], strict=False))
