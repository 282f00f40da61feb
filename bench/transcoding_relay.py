"""The baseline: aiortc's usual relay, which decodes every track and re-encodes it.

This is what an aiortc server does out of the box: the receiver decodes into
raw frames, ``MediaRelay`` fans the raw frames out, and each sender encodes
them again for its subscriber. Benchmarks only; Liveclass never runs this
(see ``sfu.passthrough``). It serves 1:1 calls with one negotiation: the offer
already carries a send slot per kind for the other participant, and the slot
starts playing when that participant's track arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

from sfu.ice import rtc_configuration
from sfu.peer import OfferExchange, TrackInfo, forwarded_codecs


class LateTrack(MediaStreamTrack):
    """A send slot's track: waits for its source, then plays it; counts frames."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.frames_out = 0
        self._source: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def play(self, source: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(source)

    async def recv(self) -> Frame | Packet[Any]:
        source = await self._source
        frame = await source.recv()
        self.frames_out += 1
        return frame

    def stop(self) -> None:
        super().stop()
        if not self._source.done():
            self._source.cancel()


class RelayPeer:
    def __init__(self, participant_id: str, other_id: str, exchange: OfferExchange) -> None:
        self.participant_id = participant_id
        self.pc = RTCPeerConnection(rtc_configuration([]))
        self.connected = asyncio.Event()
        self._exchange = exchange
        self.slots = {kind: LateTrack(kind) for kind in ("audio", "video")}
        self.infos: list[TrackInfo] = []
        self._publish = []
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(forwarded_codecs(kind))
            self._publish.append(transceiver)
        self._send = []
        for kind, track in self.slots.items():
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(forwarded_codecs(kind))
            self._send.append(transceiver)
        self._other_id = other_id

    async def negotiate(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        infos = [
            TrackInfo(t.mid or "", t.kind, self.participant_id, publish=True) for t in self._publish
        ]
        infos += [TrackInfo(t.mid or "", t.kind, self._other_id) for t in self._send]
        answer = await self._exchange(self.pc.localDescription.sdp, infos)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self.connected.set()


class RelayRoom:
    """Two participants, each receiving the other's tracks decoded and re-encoded."""

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self.relay = MediaRelay()
        self.peers: dict[str, RelayPeer] = {}
        self._arrived: dict[str, list[MediaStreamTrack]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add_peer(self, participant_id: str, other_id: str, exchange: OfferExchange) -> RelayPeer:
        peer = RelayPeer(participant_id, other_id, exchange)
        self.peers[participant_id] = peer

        @peer.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._arrived.setdefault(participant_id, []).append(track)
            other = self.peers.get(other_id)
            if other is not None:
                other.slots[track.kind].play(self.relay.subscribe(track))

        for track in self._arrived.get(other_id, []):
            peer.slots[track.kind].play(self.relay.subscribe(track))

        task = asyncio.create_task(peer.negotiate())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return peer

    def frames_out(self) -> int:
        return sum(slot.frames_out for p in self.peers.values() for slot in p.slots.values())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for peer in self.peers.values():
            for slot in peer.slots.values():
                slot.stop()
            with contextlib.suppress(MediaStreamError, Exception):
                await peer.pc.close()
