"""A room: the peers of one session, each subscribed to every other's tracks.

Tutoring rooms are small, so the router is a full mesh of subscriptions
inside the SFU: every publication goes to every other participant.

Each participant's video of the others is fitted to their link by the room's
``Allocator`` (``sfu.allocator``): thinned by temporal layer, paused, and
restored as their bandwidth estimate allows, audio first.

The room also knows who is speaking: each published audio track's RFC 6464
levels feed the room's ``ActiveSpeakerDetector``, which a task owned by the
room consults every ``SpeakerSettings.interval``; ``on_active_speaker`` hears
each change (a participant id, or None for nobody).

Given a ``Recorder`` (``sfu.recording``), the room taps each published audio
track for it: one call per frame that only queues. Its owner closes it after
the room.

A participant may also share a screen (``share_screen``): a second video
publication, forwarded and fitted like the camera. It ends with
``stop_screen``, and with the connection: a seat held after a drop keeps the
camera and microphone, not the share, which the participant starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamTrack

from core.logging import get_logger
from core.tasks import cancel_and_wait
from sfu import passthrough
from sfu.allocation import TOP_LAYER, AllocationSettings
from sfu.allocator import AllocationChange, Allocator
from sfu.errors import RoomFull, SfuError
from sfu.forwarding import SCREEN, Publication
from sfu.peer import OfferExchange, Peer
from sfu.quality import QUALITY_INTERVAL, Counters, Quality, QualityMeter, rate
from sfu.recording import Recorder
from sfu.speaker import ActiveSpeakerDetector, SpeakerChange, SpeakerSettings

log = get_logger("liveclass.sfu.room")


class Room:
    def __init__(
        self,
        room_id: str,
        *,
        max_participants: int,
        ice_servers: list[str],
        on_publish: Callable[[str, str, str], None] | None = None,
        on_unpublish: Callable[[str, str, str], None] | None = None,
        on_active_speaker: Callable[[str | None], None] | None = None,
        speaker_settings: SpeakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        recorder: Recorder | None = None,
        on_first_media: Callable[[float], None] | None = None,
        on_video_allocation: AllocationChange | None = None,
        allocation_settings: AllocationSettings | None = None,
        on_quality: Callable[[dict[str, Quality]], None] | None = None,
    ) -> None:
        """``on_publish(participant, kind, source)`` hears each new publication, and
        ``on_unpublish`` each screen share that ends (a leave ends the rest).
        ``on_first_media(seconds)``: for each participant, once, the time from joining
        to the first media packet forwarded to them (``/metrics``).
        ``on_video_allocation(subscriber, publisher, source, allocation, before)``: a
        subscriber's video of a publisher was thinned, paused or restored
        (``sfu.allocator``). ``on_quality(ratings)``: every participant's connection
        quality (``sfu.quality``), whenever one of them changes."""
        passthrough.install()
        self._on_first_media = on_first_media
        self.recorder = recorder
        self._roles: dict[str, str] = {}
        self._on_publish = on_publish
        self._on_unpublish = on_unpublish
        self._on_active_speaker = on_active_speaker
        self._clock = clock
        self.speakers = ActiveSpeakerDetector(speaker_settings)
        self._speaker_task: asyncio.Task[None] | None = None
        self.room_id = room_id
        self.max_participants = max_participants
        self._ice_servers = ice_servers
        self.peers: dict[str, Peer] = {}
        self.publications: dict[str, list[Publication]] = {}
        self._on_quality = on_quality
        self.quality: dict[str, Quality] = {}  # by participant, as last rated
        self._meter = QualityMeter()
        self._quality_task: asyncio.Task[None] | None = None
        self.allocator = Allocator(
            peers=lambda: [(pid, p.send_slots) for pid, p in self.peers.items() if not p.closed],
            settings=allocation_settings,
            on_change=on_video_allocation,
            clock=clock,
        )

    def add_peer(
        self,
        participant_id: str,
        exchange: OfferExchange,
        *,
        on_error: Callable[[SfuError], Awaitable[None]] | None = None,
        role: str = "",
    ) -> Peer:
        """Add a participant: subscribe them to everyone else and send the first offer.

        ``role`` (tutor, student) labels their recording, if the room records.

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
            on_first_media=self._on_first_media,
        )
        peer.transport_wide.on_congestion = self.allocator.nudge
        self.peers[participant_id] = peer
        self._roles[participant_id] = role
        self._meter.forget(participant_id)  # a new connection's counters start at zero
        self.allocator.start()
        if self._quality_task is None:
            self._quality_task = asyncio.create_task(
                self._watch_quality(), name=f"quality-{self.room_id}"
            )
        for publisher_id, pubs in self.publications.items():
            if publisher_id != participant_id:
                for pub in pubs:
                    peer.subscribe(publisher_id, pub.subscribe())
        peer.start()
        return peer

    def _on_track(self, peer: Peer, track: MediaStreamTrack, receiver: RTCRtpReceiver) -> None:
        pid = peer.participant_id
        source = peer.source_of(receiver)
        held = next(
            (p for p in self.publications.get(pid, []) if p.held and p.source == source), None
        )
        if held is not None:
            # Back in a held seat: the same publication, fed from the new connection; the
            # others' subscriptions go on without a new offer and nobody is told of a track.
            held.rebind(
                track=track,
                send_keyframe_request=lambda: passthrough.request_keyframe(receiver),
                counts=lambda: passthrough.receiver_counts(receiver),
            )
            self._receive(peer, receiver, held)
            log.info("track resumed", room=self.room_id, participant=pid, source=source)
            return
        if any(p.source == source for p in self.publications.get(pid, [])):
            return  # a track for a source already published: the first one stands
        tap = None
        if track.kind == "audio" and self.recorder is not None:
            tap = self.recorder.tap(pid, self._roles.get(pid, ""))
        pub = Publication(
            participant_id=pid,
            kind=track.kind,
            source=source,
            track=track,
            send_keyframe_request=lambda: passthrough.request_keyframe(receiver),
            on_frame=tap,
            on_audio_level=self._listener(pid) if track.kind == "audio" else None,
            counts=lambda: passthrough.receiver_counts(receiver),
        )
        self._receive(peer, receiver, pub)
        self.publications.setdefault(pid, []).append(pub)
        log.info("track published", room=self.room_id, participant=pid, source=source)
        if self._on_publish is not None:
            self._on_publish(pid, track.kind, source)
        for other_id, other in self.peers.items():
            if other_id != pid and not other.closed:
                other.subscribe(pid, pub.subscribe())

    def share_screen(self, participant_id: str) -> None:
        """Start forwarding the participant's screen.

        The first share on a connection offers them a slot for it; its track
        publishes when they answer (``on_publish``). Later shares reuse the slot,
        whose track the participant attaches again: it publishes at once.
        """
        peer = self.peers.get(participant_id)
        if peer is None or peer.closed:
            return
        if any(
            p.source == SCREEN and not p.held for p in self.publications.get(participant_id, [])
        ):
            return  # sharing already
        receiver = peer.screen_receiver
        if receiver is None:
            peer.open_screen_slot()
        elif receiver.track is not None:
            self._on_track(peer, receiver.track, receiver)

    async def stop_screen(self, participant_id: str) -> bool:
        """End the participant's screen share; False if there was none."""
        pubs = self.publications.get(participant_id, [])
        screen = next((p for p in pubs if p.source == SCREEN), None)
        if screen is None:
            return False
        pubs.remove(screen)
        for other in self.peers.values():
            other.unsubscribe(participant_id, SCREEN)
        await screen.aclose()
        log.info("screen share ended", room=self.room_id, participant=participant_id)
        if self._on_unpublish is not None:
            self._on_unpublish(participant_id, screen.kind, SCREEN)
        return True

    @staticmethod
    def _receive(peer: Peer, receiver: RTCRtpReceiver, pub: Publication) -> None:
        passthrough.receive_packets(
            receiver,
            pub.receive,
            on_sender_report=pub.sender_report,
            round_trip=peer.round_trip,
            audience=(lambda: pub.audience_bps) if pub.kind == "video" else None,
        )

    @property
    def active_speaker(self) -> str | None:
        """Who the room names as speaking now, or None."""
        return self.speakers.active

    def _listener(self, participant_id: str) -> Callable[[int, bool], None]:
        """What hears ``participant_id``'s audio levels: the room's speaker detector."""

        def heard(level: int, voice: bool) -> None:
            self.speakers.observe(participant_id, level, self._clock())

        if self._speaker_task is None:
            self._speaker_task = asyncio.create_task(
                self._watch_speakers(), name=f"speakers-{self.room_id}"
            )
        return heard

    async def _watch_speakers(self) -> None:
        while True:
            await asyncio.sleep(self.speakers.settings.interval)
            try:
                change = self.speakers.update(self._clock())
            except Exception:
                log.exception("active speaker detection failed", room=self.room_id)
                continue
            self._report(change)

    def _report(self, change: SpeakerChange | None) -> None:
        if change is None:
            return
        log.debug("= active speaker", room=self.room_id, participant=change.participant_id)
        if self._on_active_speaker is not None:
            try:
                self._on_active_speaker(change.participant_id)
            except Exception:
                log.exception("active speaker callback failed", room=self.room_id)

    async def _watch_quality(self) -> None:
        while True:
            await asyncio.sleep(QUALITY_INTERVAL)
            try:
                self._rate_links()
            except Exception:
                log.exception("connection quality failed", room=self.room_id)

    def _rate_links(self) -> None:
        """Rate every connected participant's links over the last window (``sfu.quality``)."""
        ratings: dict[str, Quality] = {}
        for pid, peer in self.peers.items():
            if peer.closed:
                continue
            received = lost = 0
            for pub in self.publications.get(pid, []):
                if not pub.held:
                    got, missing = pub.counts()
                    received, lost = received + got, lost + missing
            sent = lost_on_leg = 0
            fitted = False
            for _, slot in peer.send_slots:
                sent += slot.sender.packets_sent
                lost_on_leg += slot.sender.state.lost_on_leg
                allocation = self.allocator.allocation(slot)
                fitted = fitted or (allocation is not None and allocation.layer != TOP_LAYER)
            counters = Counters(peer.packets_heard(), received, lost, sent, lost_on_leg)
            figures = self._meter.figures(pid, counters, rtt=peer.round_trip(), video_fitted=fitted)
            if figures is not None:
                ratings[pid] = rate(figures)
            elif pid in self.quality:
                ratings[pid] = self.quality[pid]
        if ratings != self.quality:
            self.quality = ratings
            if self._on_quality is not None:
                try:
                    self._on_quality(dict(ratings))
                except Exception:
                    log.exception("connection quality callback failed", room=self.room_id)

    async def hold_peer(self, participant_id: str) -> None:
        """Close a participant's connection but keep their seat: their publications stay
        (detached), so the others' subscriptions need no new offer when they come back
        (``add_peer`` again, whose tracks rebind to them); ``remove_peer`` ends the seat."""
        await self.stop_screen(participant_id)
        peer = self.peers.pop(participant_id, None)
        for pub in self.publications.get(participant_id, []):
            pub.detach_source()
        if peer is not None:
            await peer.aclose()
        self._report(self.speakers.remove(participant_id))

    async def remove_peer(self, participant_id: str) -> None:
        """Take a participant out: others stop receiving them, their peer closes."""
        peer = self.peers.pop(participant_id, None)
        pubs = self.publications.pop(participant_id, [])
        for other in self.peers.values():
            other.unsubscribe(participant_id)
        await asyncio.gather(*(p.aclose() for p in pubs))
        if peer is not None:
            await peer.aclose()
        # Last: until the peer closed, its packets could still name it.
        self._report(self.speakers.remove(participant_id))

    async def aclose(self) -> None:
        """Close every peer first, so that nobody is renegotiated with on the way out."""
        await asyncio.gather(*(peer.aclose() for peer in self.peers.values()))
        for pid in list(self.peers):
            await self.remove_peer(pid)
        await self.allocator.aclose()
        await cancel_and_wait(self._quality_task)
        self._quality_task = None
        if self._speaker_task is not None:
            self._speaker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker_task
            self._speaker_task = None
