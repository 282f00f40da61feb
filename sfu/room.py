"""A room: the peers of one session, each subscribed to every other's tracks.

Tutoring rooms are small, so the router is a full mesh of subscriptions
inside the SFU: every publication goes to every other participant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamTrack

from core.logging import get_logger
from sfu import passthrough
from sfu.errors import NegotiationFailed, RoomFull
from sfu.forwarding import Publication
from sfu.peer import OfferExchange, Peer

log = get_logger("liveclass.sfu.room")


class Room:
    def __init__(
        self,
        room_id: str,
        *,
        max_participants: int,
        ice_servers: list[str],
        subscriber_queue: int = 64,
        on_publish: Callable[[str, str], None] | None = None,
    ) -> None:
        passthrough.install()
        self._on_publish = on_publish
        self.room_id = room_id
        self.max_participants = max_participants
        self._ice_servers = ice_servers
        self._subscriber_queue = subscriber_queue
        self.peers: dict[str, Peer] = {}
        self.publications: dict[str, list[Publication]] = {}

    def add_peer(
        self,
        participant_id: str,
        exchange: OfferExchange,
        *,
        on_error: Callable[[NegotiationFailed], Awaitable[None]] | None = None,
    ) -> Peer:
        """Add a participant: subscribe them to everyone else and send the first offer.

        Raises:
            RoomFull: at the participant cap.
        """
        if participant_id not in self.peers and len(self.peers) >= self.max_participants:
            raise RoomFull(f"this session already has {self.max_participants} participants")
        peer = Peer(
            participant_id,
            ice_servers=self._ice_servers,
            exchange=exchange,
            on_track=self._on_track,
            on_error=on_error,
        )
        self.peers[participant_id] = peer
        for publisher_id, pubs in self.publications.items():
            if publisher_id != participant_id:
                for pub in pubs:
                    peer.subscribe(publisher_id, pub.subscribe())
        peer.start()
        return peer

    def _on_track(self, peer: Peer, track: MediaStreamTrack, receiver: RTCRtpReceiver) -> None:
        pub = Publication(
            participant_id=peer.participant_id,
            track=track,
            send_keyframe_request=lambda: passthrough.request_keyframe(receiver),
            max_frames=self._subscriber_queue,
        )
        self.publications.setdefault(peer.participant_id, []).append(pub)
        log.info(
            "track published", room=self.room_id, participant=peer.participant_id, kind=track.kind
        )
        if self._on_publish is not None:
            self._on_publish(peer.participant_id, track.kind)
        for other_id, other in self.peers.items():
            if other_id != peer.participant_id and not other.closed:
                other.subscribe(peer.participant_id, pub.subscribe())

    async def remove_peer(self, participant_id: str) -> None:
        """Take a participant out: others stop receiving them, their peer closes."""
        peer = self.peers.pop(participant_id, None)
        pubs = self.publications.pop(participant_id, [])
        for other in self.peers.values():
            other.unsubscribe(participant_id)
        await asyncio.gather(*(p.aclose() for p in pubs))
        if peer is not None:
            await peer.aclose()

    async def aclose(self) -> None:
        for pid in list(self.peers):
            await self.remove_peer(pid)
