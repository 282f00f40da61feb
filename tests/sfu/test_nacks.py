"""When the SFU asks a publisher again for a lost packet: pure, with the clock passed in."""

from __future__ import annotations

from sfu.nacks import NackTracker


def test_a_gap_is_asked_for_at_once() -> None:
    t = NackTracker()
    assert t.add(10, 0.0) == []
    assert t.add(13, 0.001) == [11, 12]


def test_a_lost_retransmission_is_asked_for_again() -> None:
    t = NackTracker(retry_after=0.05, max_tries=3)
    t.add(1, 0.0)
    assert t.add(3, 0.0) == [2]
    assert t.add(4, 0.02) == []  # too soon to ask again
    assert t.add(5, 0.06) == [2]
    assert t.add(6, 0.12) == [2]
    assert t.add(7, 0.18) == []  # three tries: given up
    assert t.missing == []


def test_a_packet_that_arrives_is_no_longer_asked_for() -> None:
    t = NackTracker(retry_after=0.05)
    t.add(1, 0.0)
    t.add(4, 0.0)
    t.add(2, 0.01)
    assert t.missing == [3]
    assert t.add(5, 0.1) == [3]


def test_retries_wait_a_round_trip() -> None:
    t = NackTracker(retry_after=0.05)
    t.rtt = 0.2
    t.add(1, 0.0)
    assert t.add(3, 0.0) == [2]
    assert t.add(4, 0.1) == []
    assert t.add(5, 0.25) == [2]


def test_too_old_to_play_is_forgotten() -> None:
    t = NackTracker(max_age=1.0, max_tries=100, retry_after=0.1)
    t.add(1, 0.0)
    t.add(3, 0.0)
    assert t.add(4, 1.5) == []
    assert t.missing == []


def test_an_outage_is_left_to_a_keyframe() -> None:
    t = NackTracker(max_missing=100)
    t.add(1, 0.0)
    assert t.add(500, 5.0) == []  # 498 missing: NACKs would only flood the publisher
    assert t.missing == []


def test_sequence_numbers_wrap() -> None:
    t = NackTracker()
    t.add(65534, 0.0)
    assert t.add(1, 0.0) == [0, 65535]
