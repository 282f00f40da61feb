"""The SFU's end of one participant's RTCPeerConnection.

The participant offers once, to publish; from then on the SFU offers, each time
subscriptions change. Send-only transceivers are recycled rather than removed
(aiortc has no ``removeTrack``): a slot whose publisher left goes inactive and
is reused for the next track of its kind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from core.logging import get_logger
from sfu import passthrough
from sfu.errors import NegotiationFailed, UnsupportedCodec
from sfu.forwarding import SlotTrack, SubscriberTrack
from sfu.ice import rtc_configuration

log = get_logger("liveclass.sfu.peer")

# Sends an offer SDP with its track list to the participant, returns their answer SDP.
OfferExchange = Callable[[str, list["TrackInfo"]], Awaitable[str]]


class PeerState(StrEnum):
    NEW = "new"  # waiting for the participant's first offer
    CONNECTED = "connected"  # answered; SFU-side renegotiations may run
    CLOSED = "closed"


@dataclass(frozen=True)
class TrackInfo:
    """What a subscriber needs to know about an offered track."""

    mid: str
    kind: str
    participant_id: str | None  # None: an inactive slot


@dataclass
class _Slot:
    transceiver: RTCRtpTransceiver
    track: SlotTrack
    publisher_id: str | None = None


def _forwarded_codecs(kind: str) -> list[object]:
    caps = RTCRtpSender.getCapabilities(kind).codecs
    wanted = [c for c in caps if c.mimeType.lower() in passthrough.FORWARDED_MIME_TYPES]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"] if kind == "video" else []
    return [*wanted, *rtx]


class Peer:
    """One participant's connection to the SFU."""

    def __init__(
        self,
        participant_id: str,
        *,
        ice_servers: list[str],
        exchange: OfferExchange,
        on_track: Callable[[Peer, MediaStreamTrack, RTCRtpReceiver], None],
        negotiation_timeout: float = 10.0,
    ) -> None:
        self.participant_id = participant_id
        self.state = PeerState.NEW
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self._exchange = exchange
        self._on_track = on_track
        self._timeout = negotiation_timeout
        self._slots: list[_Slot] = []
        self._dirty = asyncio.Event()
        self._negotiator: asyncio.Task[None] | None = None
        self.pc.on("track", self._track_arrived)

    def _track_arrived(self, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        self._on_track(self, track, receiver)

    def _expect(self, *states: PeerState) -> None:
        if self.state not in states:
            expected = " or ".join(s.value for s in states)
            raise NegotiationFailed(
                f"peer is {self.state.value}, expected {expected}", code="invalid_state"
            )

    async def accept_offer(self, sdp: str) -> str:
        """Answer the participant's (first) offer; its tracks become publications.

        Raises:
            NegotiationFailed: the SDP does not parse or offers nothing we can forward.
        """
        self._expect(PeerState.NEW)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if not self.pc.getTransceivers():
                raise NegotiationFailed(
                    "the offer has no audio or video; offer the tracks to publish "
                    "(or recvonly ones to only receive)"
                )
            for t in self.pc.getTransceivers():
                passthrough.restrict_to_forwarded(t)
                if t.direction == "sendrecv":
                    t.direction = "recvonly"
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except (UnsupportedCodec, NegotiationFailed):
            raise
        except (
            AssertionError,  # aiortc's SDP parser asserts on malformed lines
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            InternalError,
            InvalidAccessError,
            InvalidStateError,
            OperationError,
        ) as exc:
            raise NegotiationFailed(f"cannot use this offer: {exc}") from exc
        self.state = PeerState.CONNECTED
        self._negotiator = asyncio.create_task(
            self._negotiate_loop(), name=f"negotiate-{self.participant_id}"
        )
        return self.pc.localDescription.sdp

    def subscribe(self, publisher_id: str, track: SubscriberTrack) -> None:
        """Send ``track`` (from ``publisher_id``) to this participant; renegotiates."""
        if self.state is PeerState.CLOSED:
            track.stop()
            return
        slot = next(
            (s for s in self._slots if s.publisher_id is None and s.track.kind == track.kind), None
        )
        if slot is None:
            slot_track = SlotTrack(track.kind)
            transceiver = self.pc.addTransceiver(slot_track, direction="sendonly")
            transceiver.setCodecPreferences(_forwarded_codecs(track.kind))  # type: ignore[arg-type]
            passthrough.on_keyframe_request(transceiver.sender, slot_track.request_keyframe)
            slot = _Slot(transceiver, slot_track)
            self._slots.append(slot)
        else:
            slot.transceiver.direction = "sendonly"
        slot.track.attach(track)
        slot.publisher_id = publisher_id
        # msid: browsers group a publisher's tracks into one stream by it.
        slot.transceiver.sender._stream_id = publisher_id
        self._dirty.set()

    def unsubscribe(self, publisher_id: str) -> None:
        """Stop sending ``publisher_id``'s tracks; their slots go inactive for reuse."""
        for slot in self._slots:
            if slot.publisher_id == publisher_id:
                slot.track.detach()
                slot.transceiver.direction = "inactive"
                slot.publisher_id = None
                self._dirty.set()

    @property
    def subscriptions(self) -> dict[str, list[SubscriberTrack]]:
        out: dict[str, list[SubscriberTrack]] = {}
        for slot in self._slots:
            if slot.publisher_id is not None and slot.track.source is not None:
                out.setdefault(slot.publisher_id, []).append(slot.track.source)
        return out

    def track_infos(self) -> list[TrackInfo]:
        return [
            TrackInfo(
                mid=s.transceiver.mid or "", kind=s.transceiver.kind, participant_id=s.publisher_id
            )
            for s in self._slots
        ]

    async def _negotiate_loop(self) -> None:
        """One SFU offer at a time; changes made meanwhile coalesce into the next."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.state is PeerState.CLOSED:
                return
            try:
                await self.pc.setLocalDescription(await self.pc.createOffer())
                async with asyncio.timeout(self._timeout):
                    answer = await self._exchange(self.pc.localDescription.sdp, self.track_infos())
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closed:
                    return
                log.warning(
                    "renegotiation failed; retrying",
                    participant=self.participant_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(0.5)
                self._dirty.set()

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
            slot.track.stop()
        await self.pc.close()
