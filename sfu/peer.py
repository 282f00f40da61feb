"""The SFU's end of one participant's RTCPeerConnection.

The SFU is the only offerer. Its first offer carries two receive slots for
the participant's own audio and video (the participant attaches its tracks to
them when answering) plus a send slot per track it subscribes to; later offers
add or recycle send slots as others come and go. One side numbering everything
matters: aiortc renumbers payload types and header extensions on every offer,
and browsers refuse renumbering inside a BUNDLE, so a browser-made offer
followed by an SFU offer would fail.

Send slots are recycled rather than removed (aiortc has no ``removeTrack``):
a slot whose publisher left goes inactive and is reused for the next track of
its kind.

A screen share needs a third receive slot, added by the first share
(``open_screen_slot``) and kept for the connection's life: the participant
stops sharing by detaching its track (``replaceTrack(null)``) and shares again
into the same slot, with no offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from core.logging import get_logger
from sfu import passthrough
from sfu.errors import IcePortsExhausted, NegotiationFailed, SfuError
from sfu.forwarding import SCREEN, SendSlot, Subscription, default_source
from sfu.ice import rtc_configuration
from sfu.transport_feedback import accepted_mids, offer_transport_cc
from sfu.transport_wide import TransportWide

log = get_logger("liveclass.sfu.peer")

# Sends an offer SDP with its track list to the participant, returns their answer SDP.
OfferExchange = Callable[[str, list["TrackInfo"]], Awaitable[str]]
MAX_NEGOTIATION_FAILURES = 3


class PeerState(StrEnum):
    NEW = "new"  # the first offer is not answered yet
    CONNECTED = "connected"  # negotiated at least once
    CLOSED = "closed"


@dataclass(frozen=True)
class TrackInfo:
    """What the participant needs to know about one m-line of an SFU offer."""

    mid: str
    kind: str
    participant_id: str | None  # publisher of a send slot; None: idle slot
    publish: bool = False  # a receive slot: attach your own track of this kind here
    source: str = ""  # microphone, camera or screen; "" for an idle slot


@dataclass
class _Slot:
    transceiver: RTCRtpTransceiver
    send: SendSlot
    publisher_id: str | None = None
    source: str = ""  # of the publication it carries


def forwarded_codecs(kind: str) -> list[RTCRtpCodecCapability]:
    """The codecs the SFU offers: VP8 (with RTX) and Opus, nothing it cannot forward."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    wanted = [c for c in caps if c.mimeType.lower() in passthrough.FORWARDED_MIME_TYPES]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"] if kind == "video" else []
    return [*wanted, *rtx]


def without_mdns(sdp: str) -> str:
    """Drop mDNS (``.local``) candidates: resolving one would send multicast.

    The peer-reflexive candidate learnt from the browser's first check stands in.
    """
    return "\r\n".join(
        line
        for line in sdp.split("\r\n")
        if not (line.startswith("a=candidate:") and ".local " in line)
    )


class Peer:
    """One participant's connection to the SFU."""

    def __init__(
        self,
        participant_id: str,
        *,
        ice_servers: list[str],
        exchange: OfferExchange,
        on_track: Callable[[Peer, MediaStreamTrack, RTCRtpReceiver], None],
        on_error: Callable[[SfuError], Awaitable[None]] | None = None,
        negotiation_timeout: float = 10.0,
        on_first_media: Callable[[float], None] | None = None,
    ) -> None:
        """``on_first_media(seconds)`` hears, once, how long after this peer was made the
        first media packet was forwarded to it."""
        self.participant_id = participant_id
        self.created_at = time.monotonic()
        self._on_first_media = on_first_media
        self.state = PeerState.NEW
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self.connected = asyncio.Event()
        self._exchange = exchange
        self._on_track = on_track
        self._on_error = on_error
        self._timeout = negotiation_timeout
        self._slots: list[_Slot] = []
        self._dirty = asyncio.Event()
        self._negotiator: asyncio.Task[None] | None = None
        self._publish: list[RTCRtpTransceiver] = []
        self._screen: RTCRtpTransceiver | None = None  # the screen's receive slot, once asked
        # The send slots' packets are numbered for transport-wide feedback where the
        # participant's answer accepts it (sfu.transport_feedback).
        self.transport_wide = TransportWide()
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(forwarded_codecs(kind))
            self._publish.append(transceiver)
        self.pc.on("track", self._track_arrived)

    def _track_arrived(self, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        self._on_track(self, track, receiver)

    def source_of(self, receiver: RTCRtpReceiver) -> str:
        """Which of the participant's sources arrives on ``receiver``."""
        if self._screen is not None and receiver is self._screen.receiver:
            return SCREEN
        return default_source(receiver.track.kind if receiver.track else "video")

    @property
    def screen_receiver(self) -> RTCRtpReceiver | None:
        """The screen slot's receiver, if a share was ever asked for on this connection."""
        return self._screen.receiver if self._screen is not None else None

    def open_screen_slot(self) -> bool:
        """Offer a receive slot for the participant's screen; False if there is one already
        (its track, if the participant answered with one, is on ``screen_receiver``)."""
        if self._screen is not None or self.closed:
            return False
        self._screen = self.pc.addTransceiver("video", direction="recvonly")
        self._screen.setCodecPreferences(forwarded_codecs("video"))
        self._publish.append(self._screen)
        self._dirty.set()
        return True

    def start(self) -> None:
        """Begin negotiating: the first offer goes out now."""
        if self._negotiator is None and self.state is not PeerState.CLOSED:
            self._dirty.set()
            self._negotiator = asyncio.create_task(
                self._negotiate_loop(), name=f"negotiate-{self.participant_id}"
            )

    def subscribe(self, publisher_id: str, subscription: Subscription) -> None:
        """Send ``subscription`` (of ``publisher_id``) to this participant; renegotiates."""
        if self.state is PeerState.CLOSED:
            subscription.stop()
            return
        kind = subscription.kind
        slot = next(
            (s for s in self._slots if s.publisher_id is None and s.send.kind == kind), None
        )
        if slot is None:
            transceiver = self.pc.addTransceiver(kind, direction="sendonly")
            transceiver.setCodecPreferences(forwarded_codecs(kind))
            send = SendSlot(
                kind,
                passthrough.PacketSender(transceiver.sender, transport=self.transport_wide),
                on_first_packet=self._first,
            )
            passthrough.on_keyframe_request(transceiver.sender, send.request_keyframe)
            slot = _Slot(transceiver, send)
            self._slots.append(slot)
        else:
            slot.transceiver.direction = "sendonly"
        slot.send.attach(subscription)
        slot.publisher_id = publisher_id
        slot.source = subscription.publication.source
        # msid: browsers group a publisher's tracks into one stream by it.
        slot.transceiver.sender._stream_id = publisher_id
        self._dirty.set()

    def unsubscribe(self, publisher_id: str, source: str | None = None) -> None:
        """Stop sending ``publisher_id``'s tracks (of ``source`` only, if given); their
        slots go inactive for reuse."""
        for slot in self._slots:
            if slot.publisher_id == publisher_id and source in (None, slot.source):
                slot.send.detach()
                slot.transceiver.direction = "inactive"
                slot.publisher_id = None
                slot.source = ""
                self._dirty.set()

    @property
    def subscriptions(self) -> dict[str, list[Subscription]]:
        out: dict[str, list[Subscription]] = {}
        for slot in self._slots:
            if slot.publisher_id is not None and slot.send.source is not None:
                out.setdefault(slot.publisher_id, []).append(slot.send.source)
        return out

    def _first(self) -> None:
        report, self._on_first_media = self._on_first_media, None
        if report is not None:
            try:
                report(time.monotonic() - self.created_at)
            except Exception:
                log.exception("first media callback failed", participant=self.participant_id)

    def packets_heard(self) -> int:
        """Datagrams received from this participant so far (media, RTCP, DTLS), over the
        DTLS transport: a count that stops moving when their link or their process goes."""
        heard = 0
        seen: set[int] = set()
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            if dtls is not None and id(dtls) not in seen:
                seen.add(id(dtls))
                heard += dtls._RTCDtlsTransport__rx_packets  # type: ignore[attr-defined]
        return heard

    def round_trip(self) -> float | None:
        """The round-trip time to this participant (seconds), from its receiver reports."""
        times = [s.send.sender.state.rtt for s in self._slots if s.send.sender.state.rtt]
        return max(times) if times else None

    @property
    def send_slots(self) -> list[tuple[str | None, SendSlot]]:
        """Each send slot with the publisher it carries now (None: idle)."""
        return [(slot.publisher_id, slot.send) for slot in self._slots]

    def track_infos(self) -> list[TrackInfo]:
        infos = [
            TrackInfo(
                mid=t.mid or "",
                kind=t.kind,
                participant_id=self.participant_id,
                publish=True,
                source=SCREEN if t is self._screen else default_source(t.kind),
            )
            for t in self._publish
        ]
        infos += [
            TrackInfo(
                mid=s.transceiver.mid or "",
                kind=s.send.kind,
                participant_id=s.publisher_id,
                source=s.source if s.publisher_id is not None else "",
            )
            for s in self._slots
        ]
        return infos

    async def _negotiate_once(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sends = {mid for s in self._slots if (mid := s.transceiver.mid) is not None}
        offer = offer_transport_cc(self.pc.localDescription.sdp, sends)
        async with asyncio.timeout(self._timeout):
            answer = await self._exchange(offer, self.track_infos())
        # Before the answer starts the new senders: they lay their packets out then.
        accepted = accepted_mids(answer) & sends
        if accepted != self.transport_wide.accepted:
            log.info(
                "transport-wide feedback",
                participant=self.participant_id,
                offered=sorted(sends),
                accepted=sorted(accepted),
            )
        self.transport_wide.accepted = accepted
        try:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=without_mdns(answer), type="answer")
            )
        except Exception as exc:  # aiortc raises bare assertions and ValueErrors on bad SDP
            raise NegotiationFailed(f"cannot use this answer: {exc or type(exc).__name__}") from exc
        if self.transport_wide.accepted:
            for slot in self._slots:
                if slot.transceiver.sender.transport is not None:
                    self.transport_wide.watch(slot.transceiver.sender.transport)

    async def _negotiate_loop(self) -> None:
        """One SFU offer at a time; changes made meanwhile coalesce into the next."""
        failures = 0
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.closed:
                return
            try:
                await self._negotiate_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closed:
                    return
                failures += 1
                log.warning(
                    "negotiation failed",
                    participant=self.participant_id,
                    attempt=failures,
                    error=f"{type(exc).__name__}: {exc}",
                )
                if isinstance(exc, IcePortsExhausted):
                    # aiortc counts gathering as done: a retry would offer no candidates.
                    log.error("no ICE port free", participant=self.participant_id, error=str(exc))
                    if self._on_error is not None:
                        await self._on_error(exc)
                    return
                if isinstance(exc, NegotiationFailed) and self._on_error is not None:
                    await self._on_error(exc)
                if failures >= MAX_NEGOTIATION_FAILURES:
                    log.error("giving up negotiating", participant=self.participant_id)
                    return
                await asyncio.sleep(0.5)
                self._dirty.set()
                continue
            failures = 0
            if self.state is PeerState.NEW:
                self.state = PeerState.CONNECTED
                self.connected.set()

    @property
    def closed(self) -> bool:
        return self.state is PeerState.CLOSED

    async def aclose(self) -> None:
        if self.state is PeerState.CLOSED:
            return
        self.state = PeerState.CLOSED
        if self._negotiator is not None:
            self._negotiator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._negotiator
        for slot in self._slots:
            slot.send.stop()
        self.transport_wide.close()
        await self.pc.close()
