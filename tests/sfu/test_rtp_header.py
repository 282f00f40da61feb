"""sfu.rtp_header against aiortc's serialize and wrap_rtx: the same bytes on the wire."""

from __future__ import annotations

from aiortc import rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.rtp_header import LegPackets, header_length, rtx, sequence_number

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

ids = st.one_of(st.none(), st.integers(1, 14), st.integers(15, 255))


def _aiortc_map(
    mid_id: int | None, abs_id: int | None, level_id: int | None, twcc_id: int | None = None
) -> rtp.HeaderExtensionsMap:
    extensions = [
        RTCRtpHeaderExtensionParameters(id=i, uri=uri)
        for i, uri in ((mid_id, MID), (abs_id, ABS), (level_id, LEVEL), (twcc_id, TWCC))
        if i is not None
    ]
    mapping = rtp.HeaderExtensionsMap()
    mapping.configure(RTCRtpParameters(headerExtensions=extensions))
    return mapping


@settings(max_examples=300, deadline=None)
@given(
    audio=st.booleans(),
    mid=st.one_of(st.none(), st.text("0123456789abc", min_size=1, max_size=20)),
    mid_id=ids,
    ext_id=ids,
    twcc_id=ids,
    twcc=st.integers(0, 0xFFFF),
    marker=st.integers(0, 1),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    pt=st.integers(0, 127),
    payload=st.binary(max_size=40),
    abs_send_time=st.integers(0, 0xFFFFFF),
    level=st.one_of(st.none(), st.tuples(st.booleans(), st.integers(0, 127))),
)
def test_packets_are_what_aiortc_serialises(
    audio: bool,
    mid: str | None,
    mid_id: int | None,
    ext_id: int | None,
    twcc_id: int | None,
    twcc: int,
    marker: int,
    seq: int,
    ts: int,
    ssrc: int,
    pt: int,
    payload: bytes,
    abs_send_time: int,
    level: tuple[bool, int] | None,
) -> None:
    if mid_id is not None and mid_id == ext_id:
        ext_id = None
    if twcc_id in (mid_id, ext_id):
        twcc_id = None
    mapping = _aiortc_map(mid_id, None if audio else ext_id, ext_id if audio else None, twcc_id)
    packets = LegPackets(
        pt,
        ssrc,
        mid=mid,
        mid_id=mid_id,
        abs_send_time_id=None if audio else ext_id,
        audio_level_id=ext_id if audio else None,
        transport_seq_id=twcc_id,
    )
    expected = rtp.RtpPacket(
        payload_type=pt,
        marker=marker,
        sequence_number=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=payload,
    )
    expected.extensions.mid = mid
    if twcc_id is not None:
        expected.extensions.transport_sequence_number = twcc
    if audio:
        expected.extensions.audio_level = level
        ours = packets.packet(marker, seq, ts, payload, audio_level=level, transport_seq=twcc)
    else:
        expected.extensions.abs_send_time = abs_send_time
        ours = packets.packet(
            marker, seq, ts, payload, abs_send_time=abs_send_time, transport_seq=twcc
        )
    assert ours == expected.serialize(mapping)
    assert sequence_number(ours) == seq
    parsed = rtp.RtpPacket.parse(ours, mapping)
    assert parsed.payload == payload
    assert len(ours) - header_length(ours) == len(payload)

    wrapped = rtx(ours, 97, 4242, 777)
    assert wrapped == rtp.wrap_rtx(
        expected, payload_type=97, sequence_number=4242, ssrc=777
    ).serialize(mapping)
    back = rtp.unwrap_rtx(rtp.RtpPacket.parse(wrapped, mapping), payload_type=pt, ssrc=ssrc)
    assert back.serialize(mapping) == ours


def test_a_leg_with_no_extensions_sends_a_bare_header() -> None:
    packets = LegPackets(111, 5, mid=None, mid_id=None)
    data = packets.packet(1, 10, 20, b"opus", audio_level=(True, 30))
    assert data[0] == 0x80 and data[1] == 0x80 | 111
    assert header_length(data) == 12 and data[12:] == b"opus"


def test_abs_send_time_wraps_to_24_bits() -> None:
    packets = LegPackets(96, 5, mid="0", mid_id=1, abs_send_time_id=3)
    data = packets.packet(0, 1, 2, b"x", abs_send_time=0x1ABCDEF)
    parsed = rtp.RtpPacket.parse(data, _aiortc_map(1, 3, None))
    assert parsed.extensions.abs_send_time == 0xABCDEF
    assert parsed.extensions.mid == "0"


@given(
    mid_id=st.integers(1, 14),
    abs_id=st.one_of(st.integers(1, 14), st.integers(15, 255)),
    seq=st.integers(0, 0xFFFF),
    first=st.integers(0, 0xFFFFFF),
    again=st.integers(0, 0xFFFFFF),
    payload=st.binary(max_size=40),
)
def test_a_resent_packet_carries_the_time_it_is_sent_again(
    mid_id: int, abs_id: int, seq: int, first: int, again: int, payload: bytes
) -> None:
    """restamped changes the abs-send-time alone; aiortc parses the new time and all the rest."""
    if mid_id == abs_id:
        return
    packets = LegPackets(96, 1234, mid="1", mid_id=mid_id, abs_send_time_id=abs_id)
    original = packets.packet(1, seq, 5000, payload, abs_send_time=first)
    resent = packets.restamped(original, again)
    mapping = _aiortc_map(mid_id, abs_id, None)
    before, after = rtp.RtpPacket.parse(original, mapping), rtp.RtpPacket.parse(resent, mapping)
    assert after.extensions.abs_send_time == again
    assert after.extensions.mid == "1" and after.payload == payload
    assert (after.sequence_number, after.timestamp, after.marker) == (
        before.sequence_number,
        before.timestamp,
        before.marker,
    )
    audio = LegPackets(111, 1234, mid="0", mid_id=mid_id, audio_level_id=abs_id)
    level = audio.packet(1, seq, 5000, payload, audio_level=(True, 30))
    assert audio.restamped(level, again) == level  # nothing to restamp on audio


@given(
    mid_id=st.integers(1, 14),
    ext_id=st.one_of(st.integers(1, 14), st.integers(15, 255)),
    twcc_id=st.one_of(st.integers(1, 14), st.integers(15, 255)),
    audio=st.booleans(),
    level=st.one_of(st.none(), st.tuples(st.booleans(), st.integers(0, 127))),
    first=st.integers(0, 0xFFFF),
    again=st.integers(0, 0xFFFF),
    when=st.integers(0, 0xFFFFFF),
    payload=st.binary(max_size=40),
)
def test_a_resent_packet_takes_a_new_transport_wide_number(
    mid_id: int,
    ext_id: int,
    twcc_id: int,
    audio: bool,
    level: tuple[bool, int] | None,
    first: int,
    again: int,
    when: int,
    payload: bytes,
) -> None:
    """Feedback reports each copy it received by its own number: a resend needs a new one."""
    if len({mid_id, ext_id, twcc_id}) < 3:
        return
    mapping = _aiortc_map(mid_id, None if audio else ext_id, ext_id if audio else None, twcc_id)
    packets = LegPackets(
        96,
        1234,
        mid="1",
        mid_id=mid_id,
        abs_send_time_id=None if audio else ext_id,
        audio_level_id=ext_id if audio else None,
        transport_seq_id=twcc_id,
    )
    if audio:
        original = packets.packet(0, 7, 5000, payload, audio_level=level, transport_seq=first)
    else:
        original = packets.packet(0, 7, 5000, payload, abs_send_time=1, transport_seq=first)
    resent = rtp.RtpPacket.parse(packets.restamped(original, when, again), mapping)
    assert resent.extensions.transport_sequence_number == again
    assert resent.extensions.abs_send_time == (None if audio else when)
    assert resent.extensions.audio_level == (level if audio else None)
    assert resent.extensions.mid == "1" and resent.payload == payload
