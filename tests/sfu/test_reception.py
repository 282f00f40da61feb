"""What a browser could play of the packets that arrived: the measuring client's arithmetic."""

from __future__ import annotations

from sfu.reception import AudioTracker, VideoTracker


def _payload(*, start: bool, key: bool) -> bytes:
    return bytes((0x10 if start else 0x00,)) + (b"\x10" if key else b"\x11") + b"data"


def _frame(v: VideoTracker, first_seq: int, n: int, ts: int, *, key: bool, at: float) -> int:
    decoded = 0
    for i in range(n):
        decoded += v.add(first_seq + i, ts, i == n - 1, _payload(start=i == 0, key=key), at)
    return decoded


def test_audio_share_counts_duplicates_once() -> None:
    a = AudioTracker()
    for seq in (1, 2, 2, 4, 5):
        a.add(seq, 1.0)
    assert a.share() == (4, 5)
    assert a.share(since=2.0) == (0, 0)


def test_complete_frames_in_a_chain_are_decoded() -> None:
    v = VideoTracker()
    assert _frame(v, 10, 3, 3000, key=True, at=0.0) == 1
    assert _frame(v, 13, 2, 6000, key=False, at=0.07) == 1
    assert [d.keyframe for d in v.decoded] == [True, False]
    assert v.stuck_since is None


def test_a_lost_packet_stops_the_chain_until_it_comes() -> None:
    v = VideoTracker()
    _frame(v, 10, 1, 3000, key=True, at=0.0)
    v.add(12, 6000, True, _payload(start=False, key=False), 0.07)  # seq 11, the start, is lost
    v.add(13, 9000, True, _payload(start=True, key=False), 0.13)
    assert len(v.decoded) == 1 and v.stuck_since == 0.07
    assert v.add(11, 6000, False, _payload(start=True, key=False), 0.2) == 2  # retransmitted
    assert v.stuck_since is None


def test_a_keyframe_restarts_a_broken_chain_and_the_freeze_is_measured() -> None:
    v = VideoTracker()
    _frame(v, 10, 1, 0, key=True, at=0.0)
    _frame(v, 12, 1, 3000, key=False, at=0.03)  # seq 11 never comes: this cannot be decoded
    assert len(v.decoded) == 1
    _frame(v, 13, 2, 90_000, key=True, at=1.0)
    assert [d.media_time for d in v.decoded] == [0.0, 1.0]
    assert v.longest_freeze() == 1.0


def test_wrapping_sequence_numbers_and_timestamps() -> None:
    v = VideoTracker()
    _frame(v, 65534, 2, (1 << 32) - 3000, key=True, at=0.0)
    assert _frame(v, 0, 1, 0, key=False, at=0.07) == 1
    assert len(v.decoded) == 2
