"""sfu.transport_feedback: the offer's extra lines, the answer's verdict, feedback parsed."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.transport_feedback import (
    TRANSPORT_CC_ID,
    TRANSPORT_CC_URI,
    accepted_mids,
    feedback_messages,
    offer_transport_cc,
    parse_feedback,
)

OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=recvonly",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
        "a=mid:1",
        "a=recvonly",
        "a=rtpmap:97 VP8/90000",
        "a=rtpmap:98 rtx/90000",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
        "a=mid:2",
        "a=sendonly",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=rtpmap:97 VP8/90000",
        "a=rtcp-fb:97 nack",
        "a=rtpmap:98 rtx/90000",
        "a=fmtp:98 apt=97",
        "",
    ]
)


def _section(sdp: str, mid: str) -> str:
    return next(s for s in sdp.split("m=") if f"a=mid:{mid}\r\n" in s)


def test_only_the_send_sections_are_offered_transport_wide_feedback() -> None:
    offer = offer_transport_cc(OFFER, {"2"})
    sent = _section(offer, "2")
    assert f"a=extmap:{TRANSPORT_CC_ID} {TRANSPORT_CC_URI}\r\n" in sent
    assert "a=rtcp-fb:97 transport-cc\r\n" in sent
    assert "a=rtcp-fb:98" not in sent  # not for RTX
    # The extension comes before the codecs, after aiortc's own.
    assert sent.index("abs-send-time") < sent.index(TRANSPORT_CC_URI) < sent.index("a=rtpmap")
    for mid in ("0", "1"):
        assert _section(offer, mid) == _section(OFFER, mid)
    assert offer_transport_cc(offer, {"2"}) == offer  # once is enough
    assert offer.endswith("\r\n") and offer.count("\r\n") == OFFER.count("\r\n") + 2


def test_the_answer_says_which_sections_give_feedback() -> None:
    answer = offer_transport_cc(OFFER, {"1", "2"}).replace("a=rtcp-fb:97 transport-cc\r\n", "", 1)
    assert accepted_mids(answer) == {"2"}  # mid 1 kept the extension but not the feedback
    assert accepted_mids(OFFER) == set()
    other_id = offer_transport_cc(OFFER, {"2"}).replace(
        f"a=extmap:{TRANSPORT_CC_ID} ", "a=extmap:9 "
    )
    assert accepted_mids(other_id) == set()  # the packets carry our id, not theirs


def _message(base: int, reference: int, count: int, chunks: list[int], deltas: bytes) -> bytes:
    body = struct.pack("!LLHHL", 1, 2, base, count, ((reference & 0xFFFFFF) << 8) | 7)
    body += b"".join(struct.pack("!H", c) for c in chunks) + deltas
    padding = -len(body) % 4
    first = 0x80 | 15 | (0x20 if padding else 0)
    if padding:
        body += b"\x00" * (padding - 1) + bytes([padding])
    return struct.pack("!BBH", first, 205, (len(body) + 4) // 4 - 1) + body


def test_a_run_length_chunk_and_its_small_deltas() -> None:
    # Three packets received with small deltas, from sequence 65534 (wrapping).
    message = _message(65534, 10, 3, [(1 << 13) | 3], bytes([4, 8, 0]))
    feedback = parse_feedback(message)
    assert feedback.feedback_count == 7 and feedback.media_ssrc == 2
    seqs = [s for s, _ in feedback.arrivals]
    times = [t for _, t in feedback.arrivals]
    assert seqs == [65534, 65535, 0]
    assert times == pytest.approx([0.641, 0.643, 0.643])


def test_status_vectors_mark_the_missing_and_large_deltas() -> None:
    # Two-bit vector: received small, missing, received large (negative), then padding.
    chunk = 0xC000 | (1 << 12) | (0 << 10) | (2 << 8)
    deltas = bytes([40]) + struct.pack("!h", -20)
    feedback = parse_feedback(_message(100, -1, 3, [chunk], deltas))
    assert [s for s, _ in feedback.arrivals] == [100, 101, 102]
    assert feedback.arrivals[1][1] is None
    first, third = feedback.arrivals[0][1], feedback.arrivals[2][1]
    assert first == pytest.approx(-0.064 + 0.010)
    assert third == pytest.approx(first - 0.005)
    # One-bit vector: fourteen symbols, only the first two used.
    one_bit = 0x8000 | (1 << 13)
    feedback = parse_feedback(_message(7, 0, 2, [one_bit], bytes([1])))
    assert feedback.arrivals[0][1] == pytest.approx(0.00025)
    assert feedback.arrivals[1] == (8, None)


def test_broken_feedback_is_refused_not_guessed() -> None:
    good = _message(1, 0, 3, [(1 << 13) | 3], bytes([1, 1, 1]))
    with pytest.raises(ValueError):
        parse_feedback(good[:20])
    cut = _message(1, 0, 3, [(1 << 13) | 3], bytes([1]))
    with pytest.raises(ValueError, match="deltas"):
        parse_feedback(cut)
    with pytest.raises(ValueError, match="reserved"):
        parse_feedback(_message(1, 0, 1, [(3 << 13) | 1], b""))


@given(
    statuses=st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=60),
    base=st.integers(0, 0xFFFF),
    reference=st.integers(-(1 << 23), (1 << 23) - 1),
    data=st.data(),
)
def test_what_a_sender_encodes_is_what_is_read(
    statuses: list[int], base: int, reference: int, data: st.DataObject
) -> None:
    chunks = []
    for at in range(0, len(statuses), 7):
        group = statuses[at : at + 7] + [0] * (7 - len(statuses[at : at + 7]))
        chunk = 0xC000
        for n, symbol in enumerate(group):
            chunk |= symbol << (12 - 2 * n)
        chunks.append(chunk)
    deltas = b""
    expected: list[float | None] = []
    clock = reference * 0.064
    for symbol in statuses:
        if symbol == 0:
            expected.append(None)
            continue
        if symbol == 1:
            delta = data.draw(st.integers(0, 255))
            deltas += bytes([delta])
        else:
            delta = data.draw(st.integers(-32768, 32767))
            deltas += struct.pack("!h", delta)
        clock += delta * 0.00025
        expected.append(clock)
    feedback = parse_feedback(_message(base, reference, len(statuses), chunks, deltas))
    assert [s for s, _ in feedback.arrivals] == [(base + n) & 0xFFFF for n in range(len(statuses))]
    for (_, got), want in zip(feedback.arrivals, expected, strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want)


def test_feedback_is_found_in_a_compound_among_other_reports() -> None:
    receiver_report = struct.pack("!BBHL", 0x80, 201, 1, 5)
    nack = struct.pack("!BBHLLHH", 0x81, 205, 3, 1, 2, 10, 0)
    feedback = _message(1, 0, 1, [(1 << 13) | 1], bytes([1]))
    compound = receiver_report + nack + feedback
    assert feedback_messages(compound) == [feedback]
    assert feedback_messages(compound[:-2]) == []  # a truncated one is not taken
