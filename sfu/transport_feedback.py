"""Transport-wide congestion control on the wire: the SDP it needs and its feedback. Pure.

A receiver that speaks transport-wide feedback (draft-holmer-rmcat-transport-
wide-cc-extensions-01; Chromium does, aiortc does not) reports, every 50 to
250 ms, when each packet the SFU numbered arrived, or that it did not. That
is what lets the SFU see a queue build on a subscriber's downlink within a
tenth of a second, where a REMB (about once a second, computed by the far
end) came too late to keep the queue out of the audio's way.

The SFU is the only offerer (``sfu.peer``), and aiortc negotiates only its own
list of header extensions, so ``offer_transport_cc`` adds the extension and the
``transport-cc`` feedback type to the SFU's send m-sections of an offer, and
``accepted_mids`` reads which of them the answer kept. The publishers'
m-sections keep REMB: a browser told to number its packets would wait for
feedback the SFU does not send.

``parse_feedback`` reads one feedback message (RTCP RTPFB, FMT 15) into each
packet's number and arrival time (or None: not received).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
# aiortc numbers MID 1, the audio level 2 and abs-send-time 3, across the bundle.
TRANSPORT_CC_ID = 5
RTPFB = 205
TRANSPORT_CC_FMT = 15
_TICK = 0.000250  # receive deltas, seconds
_REFERENCE_TICK = 0.064  # the reference time, seconds


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback message: each packet's transport-wide number and arrival, in order.

    ``arrivals``: (sequence number, seconds on the receiver's clock, or None
    when it did not arrive). The receiver's clock has an offset of its own: only
    differences between arrivals mean anything.
    """

    media_ssrc: int
    feedback_count: int
    arrivals: tuple[tuple[int, float | None], ...]


def _sections(sdp: str) -> list[str]:
    """The session part and each m-section, line endings kept."""
    return re.split(r"(?m)^(?=m=)", sdp)


def offer_transport_cc(sdp: str, mids: set[str]) -> str:
    """``sdp`` with transport-wide numbering offered on the m-sections of ``mids``.

    Adds the header extension (id ``TRANSPORT_CC_ID``) and ``a=rtcp-fb:<pt>
    transport-cc`` for each codec but RTX. Other m-sections are left alone.
    """
    eol = "\r\n" if "\r\n" in sdp else "\n"
    out = []
    for section in _sections(sdp):
        mid = re.search(r"(?m)^a=mid:(\S+)", section)
        if not section.startswith("m=") or mid is None or mid.group(1) not in mids:
            out.append(section)
            continue
        if TRANSPORT_CC_URI in section:
            out.append(section)
            continue
        lines = section.split(eol)
        result: list[str] = []
        ext_done = False
        for line in lines:
            if not ext_done and line.startswith("a=rtpmap:"):
                # Before the first codec: after any extmap aiortc wrote.
                result.append(f"a=extmap:{TRANSPORT_CC_ID} {TRANSPORT_CC_URI}")
                ext_done = True
            result.append(line)
            codec = re.match(r"a=rtpmap:(\d+) ([^/]+)/", line)
            if codec and codec.group(2).lower() != "rtx":
                result.append(f"a=rtcp-fb:{codec.group(1)} transport-cc")
        out.append(eol.join(result))
    return "".join(out)


def accepted_mids(answer: str) -> set[str]:
    """The m-sections of ``answer`` that kept transport-wide numbering at our id."""
    accepted = set()
    for section in _sections(answer):
        mid = re.search(r"(?m)^a=mid:(\S+)", section)
        ext = re.search(rf"(?m)^a=extmap:(\d+)(?:/\w+)? {re.escape(TRANSPORT_CC_URI)}\s*$", section)
        feedback = re.search(r"(?m)^a=rtcp-fb:\S+ transport-cc\s*$", section)
        if mid and ext and feedback and int(ext.group(1)) == TRANSPORT_CC_ID:
            accepted.add(mid.group(1))
    return accepted


def feedback_messages(compound: bytes) -> list[bytes]:
    """The transport-wide feedback messages (whole, header included) in an RTCP compound."""
    found = []
    at = 0
    while at + 4 <= len(compound):
        first, packet_type, words = struct.unpack_from("!BBH", compound, at)
        end = at + 4 * (words + 1)
        if end > len(compound):
            break
        if packet_type == RTPFB and first & 0x1F == TRANSPORT_CC_FMT:
            found.append(compound[at:end])
        at = end
    return found


def parse_feedback(message: bytes) -> Feedback:
    """One feedback message, header included; ``ValueError`` when it does not hold together."""
    if len(message) < 20:
        raise ValueError("transport-wide feedback is too short")
    first, packet_type, _ = struct.unpack_from("!BBH", message)
    if packet_type != RTPFB or first & 0x1F != TRANSPORT_CC_FMT:
        raise ValueError("not a transport-wide feedback message")
    end = len(message)
    if first & 0x20:  # padding: its count is the last byte
        end -= message[-1]
    media_ssrc, base, count, reference = struct.unpack_from("!4xLHHL", message, 4)
    feedback_count = reference & 0xFF
    reference >>= 8
    if reference & 0x800000:
        reference -= 1 << 24
    at = 20
    symbols: list[int] = []
    while len(symbols) < count:
        if at + 2 > end:
            raise ValueError("transport-wide feedback ends inside its status chunks")
        (chunk,) = struct.unpack_from("!H", message, at)
        at += 2
        if not chunk & 0x8000:  # run length: one symbol, repeated
            symbols.extend([(chunk >> 13) & 0x3] * (chunk & 0x1FFF))
        elif chunk & 0x4000:  # seven two-bit symbols
            symbols.extend((chunk >> shift) & 0x3 for shift in range(12, -1, -2))
        else:  # fourteen one-bit symbols
            symbols.extend((chunk >> shift) & 0x1 for shift in range(13, -1, -1))
    del symbols[count:]
    arrival = reference * _REFERENCE_TICK
    arrivals: list[tuple[int, float | None]] = []
    for n, symbol in enumerate(symbols):
        seq = (base + n) & 0xFFFF
        if symbol == 0:
            arrivals.append((seq, None))
            continue
        if symbol == 1:
            if at + 1 > end:
                raise ValueError("transport-wide feedback ends inside its deltas")
            delta = message[at]
            at += 1
        elif symbol == 2:
            if at + 2 > end:
                raise ValueError("transport-wide feedback ends inside its deltas")
            (delta,) = struct.unpack_from("!h", message, at)
            at += 2
        else:
            raise ValueError("transport-wide feedback has a reserved status symbol")
        arrival += delta * _TICK
        arrivals.append((seq, arrival))
    return Feedback(media_ssrc, feedback_count, tuple(arrivals))
