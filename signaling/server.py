"""The signaling WebSocket (``/rtc``): moves protocol messages between clients and the SFU.

One task per connection reads frames, checks them with ``signaling.protocol``,
and acts: join (token, room, peer), answers to the SFU's offers, ICE
candidates, mute, ping, leave. A bad message gets an
``error`` reply and touches nobody else; before a successful join it also
closes the connection with a code that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from aiortc.sdp import candidate_from_sdp
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from core.clock import Clock
from core.ids import new_id
from core.logging import get_logger
from core.tasks import cancel_and_wait
from sfu import ice
from sfu.errors import IcePortsExhausted, SfuError
from sfu.peer import TrackInfo
from sfu.quality import Quality
from sfu.recording import RecordedTrack, Recorder
from sfu.room import Room
from signaling.admission import JoinFacts, Refused, admit
from signaling.candidates import CandidatePolicy, refusal
from signaling.errors import JoinTokenError
from signaling.presence import ChatRecord, PresenceRecord, PresenceSink, PresenceWriter
from signaling.protocol import (
    CHAT_HISTORY,
    ActiveSpeaker,
    Answer,
    Caption,
    Captions,
    Chat,
    ChatSent,
    CloseCode,
    ConnectionProtocol,
    ConnectionQuality,
    Error,
    Ice,
    IceServer,
    Join,
    Joined,
    Leave,
    Mute,
    MuteChanged,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantReconnected,
    ParticipantReconnecting,
    Ping,
    Pong,
    ProtocolError,
    QualityInfo,
    Screen,
    ServerOffer,
    Source,
    TrackPublished,
    TrackRef,
    TrackUnpublished,
    encode,
    parse_client_message,
    video_notice,
)
from signaling.tokens import JoinGrant, verify_join_token

log = get_logger("liveclass.signaling")

# A connection may send this many chat messages at once, then one each CHAT_EVERY seconds:
# a lesson's chat, not a flood that fills every page and the session's record.
CHAT_BURST = 5
CHAT_EVERY = 2.0
# A participant's mute changes reach the others at once this many times, then at most once
# each MUTE_EVERY seconds, carrying the latest state: toggling fast costs the room nothing.
MUTE_BURST = 4
MUTE_EVERY = 1.0


@dataclass(frozen=True)
class SignalingLimits:
    max_participants: int = 8
    max_message_bytes: int = 65_536
    join_timeout: float = 10.0
    idle_timeout: float = 30.0
    send_timeout: float = 5.0
    # One presence or recording write's turn: longer than SQLite's busy timeout (30 s),
    # so a write waiting for another writer is not cut off; past it, it is tried again.
    record_timeout: float = 40.0
    drain_timeout: float = 10.0  # at shutdown, how long queued presence records may take
    # How long a dropped participant's seat is kept for them (LIVECLASS_RECONNECT_GRACE_SECONDS).
    reconnect_grace: float = 15.0
    # Nothing received on a participant's media connection this long (seconds) while their
    # WebSocket looks alive: their link is down. Receivers send RTCP at least every 1.5 s.
    media_silence: float = 3.0
    # What one connection may send: ``message_burst`` messages at once, then
    # ``message_rate`` a second (a call sends a few a second: ICE, pings, mutes).
    message_rate: float = 20.0
    message_burst: int = 100
    # ICE candidates one connection may hand the SFU (a browser gathers a few per restart).
    max_candidates: int = 100
    # WebSockets from one address that have not joined yet: more wait for no one.
    max_pending_per_address: int = 32


SessionExists = Callable[[str], Awaitable[bool]]
# Whether a valid token's holder is still one of the session's participants
# (a tutor replaced by a substitute, a student taken off it, no longer are).
StillAdmitted = Callable[[JoinGrant], Awaitable[bool]]
# A session's recorder for a new room, or None not to record it.
RecorderFactory = Callable[[str], Recorder | None]
# Hears a closed room's finished recordings: (session_id, tracks).
RecordingSink = Callable[[str, list[RecordedTrack]], Awaitable[None]]


class ConnectionGone(ConnectionError):
    """The client's socket is gone (killed, network lost): nothing more can be sent to it."""


# What a send or close to a client that is gone or stuck raises.
GONE: tuple[type[BaseException], ...] = (ConnectionGone, TimeoutError, RuntimeError, OSError)
# ...and what reading from one raises.
DISCONNECTED: tuple[type[BaseException], ...] = (WebSocketDisconnect, *GONE)


class Spoken(Protocol):
    """What a caption is made of (``ai_docs.live.LiveSegment`` fits)."""

    @property
    def text(self) -> str: ...


class Connection:
    """One client's WebSocket: serialised sends, and the pending answer to an SFU offer."""

    def __init__(self, ws: WebSocket, *, send_timeout: float) -> None:
        self.ws = ws
        self.info: ParticipantInfo | None = None
        self._send_timeout = send_timeout
        self._lock = asyncio.Lock()
        self._answer: asyncio.Future[str] | None = None
        # Media silence while the socket looked alive (see SignalingServer._watch_media):
        # since when (the others were told reconnecting), and whether its grace ran out.
        self.silent_since: datetime | None = None
        self.silent_at = 0.0  # the same instant, time.monotonic()
        self.chat_allowance = float(CHAT_BURST)  # chat messages it may send now
        self.chat_at = time.monotonic()
        self.expired = False
        self.ending = False  # the session was ended: this connection leaves, nothing is held
        self.captions = False  # live captions turned on
        # Messages it may send now (SignalingLimits.message_burst/message_rate), and
        # whether it was told it is too fast since it last had room.
        self.allowance = 0.0
        self.allowance_at = time.monotonic()
        self.told_too_fast = False
        self.candidates = 0  # ICE candidates handed to the SFU
        # Mute changes: what the others were last told, how many may go out at once
        # now, and the pending send of the latest state when changes came too fast.
        self.mute_told: dict[str, bool] = {}
        self.mute_allowance = float(MUTE_BURST)
        self.mute_at = time.monotonic()
        self.mute_flush: asyncio.Task[None] | None = None

    def take_message(self, rate: float, burst: int) -> bool:
        """Whether one more message fits this connection's allowance (and take it)."""
        now = time.monotonic()
        self.allowance = min(burst, self.allowance + (now - self.allowance_at) * rate)
        self.allowance_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        self.told_too_fast = False
        return True

    async def send(self, message: BaseModel) -> None:
        """Send one message; raises ``ConnectionGone`` if the client has vanished."""
        if self.ws.application_state is not WebSocketState.CONNECTED:
            return
        try:
            async with self._lock, asyncio.timeout(self._send_timeout):
                await self.ws.send_text(encode(message))
        except WebSocketDisconnect as exc:
            # Starlette says a socket that vanished (no close frame: 1006) this way.
            raise ConnectionGone(f"the client went away ({exc.code})") from exc

    async def exchange(self, sdp: str, tracks: list[TrackInfo]) -> str:
        """Send the SFU's offer and wait for the client's answer."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answer = future
        refs = [
            TrackRef(
                mid=t.mid,
                kind=t.kind,
                participant_id=t.participant_id,
                publish=t.publish,
                source=t.source or None,
            )
            for t in tracks
        ]
        await self.send(ServerOffer(sdp=sdp, tracks=refs))
        return await future

    async def report(self, exc: SfuError) -> None:
        """Tell the client what went wrong with its media connection.

        An unusable answer is retried by the SFU; with no ICE port free there is
        nothing to retry on this connection, so it closes and the client rejoins
        later.
        """
        with contextlib.suppress(*GONE):
            await self.send(Error(code=exc.code, message=exc.message))
        if isinstance(exc, IcePortsExhausted):
            await self.close(CloseCode.TRY_AGAIN_LATER, exc.message)

    def deliver_answer(self, sdp: str) -> None:
        if self._answer is None or self._answer.done():
            raise ProtocolError(
                "unexpected_answer", "no offer from the server is waiting for an answer"
            )
        self._answer.set_result(sdp)

    async def close(self, code: int, reason: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        if self.ws.application_state is WebSocketState.CONNECTED:
            # Closing a socket whose client was killed fails; it is closed either way.
            with contextlib.suppress(*DISCONNECTED):
                async with asyncio.timeout(self._send_timeout):
                    await self.ws.close(code=code, reason=reason[:120])


@dataclass
class HeldSeat:
    """A participant whose connection dropped: their seat waits for them until ``timer`` ends."""

    grant: JoinGrant
    info: ParticipantInfo
    since: datetime  # when it dropped: their attendance ends here if they never come back
    timer: asyncio.Task[None]


@dataclass
class RoomState:
    room: Room
    connections: dict[str, Connection] = field(default_factory=dict)
    held: dict[str, HeldSeat] = field(default_factory=dict)
    resume_tokens: dict[str, str] = field(default_factory=dict)  # the latest per participant
    # The last chat messages, for a newcomer's joined (and one who comes back).
    chat: deque[ChatSent] = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY))

    @property
    def empty(self) -> bool:
        return not self.connections and not self.held


def _quality_message(ratings: dict[str, Quality]) -> ConnectionQuality:
    return ConnectionQuality(
        participants=[
            QualityInfo(participant_id=pid, quality=quality.value)
            for pid, quality in sorted(ratings.items())
        ]
    )


class SignalingServer:
    """All rooms of this node, and the WebSocket handler that serves them."""

    def __init__(
        self,
        *,
        secret: str,
        clock: Clock,
        limits: SignalingLimits,
        ice_servers: list[str],
        session_exists: SessionExists,
        on_presence: PresenceSink | None = None,
        recorder_for: RecorderFactory | None = None,
        on_recording: RecordingSink | None = None,
        still_admitted: StillAdmitted | None = None,
        on_first_media: Callable[[float], None] | None = None,
        live_captions: bool = False,
    ) -> None:
        """``recorder_for`` gives each new room its recorder; when the room closes (the
        last participant left, or the server shuts down) the recorder is closed and
        ``on_recording`` hears its files. ``still_admitted`` re-checks, at each join,
        that the token's holder still belongs to the session: a token outlives changes
        to who teaches or attends it. ``live_captions`` says the rooms' speech is
        transcribed live (``caption`` then sends it to those who turned captions on)."""
        self._secret = secret
        self._clock = clock
        self.limits = limits
        self._ice_servers = ice_servers
        self._session_exists = session_exists
        self._still_admitted = still_admitted
        self._presence = (
            PresenceWriter(on_presence, timeout=limits.record_timeout)
            if on_presence is not None
            else None
        )
        self._recorder_for = recorder_for
        self._on_recording = on_recording
        self._on_first_media = on_first_media
        self.live_captions = live_captions
        self.rooms: dict[str, RoomState] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False  # shutting down: a closed connection leaves, nothing is held
        self._pending: dict[str, int] = {}  # sockets not yet joined, per client address

    def _room(self, session_id: str) -> RoomState:
        state = self.rooms.get(session_id)
        if state is None:
            state = RoomState(
                Room(
                    session_id,
                    max_participants=self.limits.max_participants,
                    ice_servers=self._ice_servers,
                    on_publish=lambda pid, kind, source: self._broadcast_soon(
                        session_id,
                        TrackPublished(participant_id=pid, kind=kind, source=source),
                        exclude=pid,
                    ),
                    on_unpublish=lambda pid, kind, source: self._broadcast_soon(
                        session_id,
                        TrackUnpublished(participant_id=pid, kind=kind, source=source),
                        exclude=pid,
                    ),
                    on_active_speaker=lambda pid: self._broadcast_soon(
                        session_id, ActiveSpeaker(participant_id=pid)
                    ),
                    on_video_allocation=lambda sub, pub, source, after, before: self._tell_soon(
                        session_id, sub, video_notice(pub, after, before, cast(Source, source))
                    ),
                    on_quality=lambda ratings: self._broadcast_soon(
                        session_id, _quality_message(ratings)
                    ),
                    recorder=self._recorder_for(session_id) if self._recorder_for else None,
                    on_first_media=self._on_first_media,
                )
            )
            self.rooms[session_id] = state
        return state

    def _broadcast_soon(
        self,
        session_id: str,
        message: BaseModel,
        *,
        exclude: str | None = None,
        only: str | None = None,
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._broadcast(session_id, message, exclude=exclude, only=only)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _tell_soon(self, session_id: str, participant_id: str, message: BaseModel | None) -> None:
        """Send ``message`` to one participant, if any and still connected."""
        if message is not None:
            self._broadcast_soon(session_id, message, only=participant_id)

    async def _broadcast(
        self,
        session_id: str,
        message: BaseModel,
        *,
        exclude: str | None = None,
        only: str | None = None,
    ) -> None:
        state = self.rooms.get(session_id)
        if state is None:
            return
        for pid, conn in list(state.connections.items()):
            if pid != exclude and (only is None or pid == only):
                try:
                    await conn.send(message)
                except GONE:
                    log.warning(
                        "dropping a slow or broken connection", session=session_id, participant=pid
                    )
                    await conn.close(CloseCode.TIMEOUT, "not reading messages")

    def _record(self, record: PresenceRecord) -> None:
        """Log the change and queue its record; the join or leave never waits on the database."""
        log.info(
            record.type,
            session=record.session_id,
            participant=record.participant_id,
            reason=record.reason,
        )
        if self._presence is not None:
            self._presence.submit(record)

    async def flush_presence(self) -> None:
        """Wait until every presence record so far is written (the room's close does)."""
        if self._presence is not None:
            await self._presence.flush()

    async def _receive(self, conn: Connection, timeout: float) -> str | bytes | None:
        """The next frame, or None when the client went away."""
        async with asyncio.timeout(timeout):
            message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        data: str | bytes | None = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        return data

    async def _refuse(self, conn: Connection, code: str, message: str, close_code: int) -> None:
        await conn.send(Error(code=code, message=message))
        await conn.close(close_code, code)

    async def _join(
        self, conn: Connection, proto: ConnectionProtocol
    ) -> tuple[JoinGrant, RoomState] | None:
        try:
            raw = await self._receive(conn, self.limits.join_timeout)
        except TimeoutError:
            await self._refuse(
                conn, "join_timeout", "send join within the join timeout", CloseCode.TIMEOUT
            )
            return None
        if raw is None:
            return None
        try:
            message = parse_client_message(raw, max_bytes=self.limits.max_message_bytes)
            proto.check(message)
            assert isinstance(message, Join)
            grant = verify_join_token(
                message.token,
                secret=self._secret,
                session_id=message.session_id,
                now=self._clock.now(),
            )
        except ProtocolError as exc:
            await self._refuse(conn, exc.code, exc.message, CloseCode.BAD_FIRST_MESSAGE)
            return None
        except JoinTokenError as exc:
            await self._refuse(conn, exc.code, exc.message, CloseCode.JOIN_REFUSED)
            return None
        session_open = await self._session_exists(grant.session_id)
        still_admitted = True
        if session_open and self._still_admitted is not None:
            still_admitted = await self._still_admitted(grant)
        current = self.rooms.get(grant.session_id)
        pid = grant.participant_id
        present = {
            p: c.info.role if c.info else grant.role
            for p, c in (current.connections.items() if current else ())
        }
        present.update({p: seat.info.role for p, seat in (current.held.items() if current else ())})
        known = current.resume_tokens.get(pid) if current else None
        resuming = (
            message.resume_token is not None
            and known is not None
            and secrets.compare_digest(message.resume_token, known)
        )
        decision = admit(
            grant,
            JoinFacts(
                session_open=session_open,
                still_admitted=still_admitted,
                present=present,
                max_participants=self.limits.max_participants,
                now=self._clock.now(),
                resuming=resuming,
            ),
        )
        if isinstance(decision, Refused):
            await self._refuse(conn, decision.code, decision.message, decision.close_code)
            return None
        state = self._room(grant.session_id)
        seat = state.held.pop(pid, None)
        if seat is not None:
            seat.timer.cancel()
        told_reconnecting = seat is not None
        if decision.replaces:
            # The same participant again: the newer connection wins. Back from a drop, or
            # from a link that is failing, they keep their seat: their publications stay,
            # so nobody else needs a new offer. Otherwise (a reload, a new device) the old
            # peer goes, as the others see no change either way.
            old = state.connections.pop(pid, None)
            if old is not None:
                told_reconnecting = told_reconnecting or old.silent_since is not None
                await old.close(CloseCode.REPLACED, "replaced by a newer connection")
            if decision.resumed or seat is not None:
                await state.room.hold_peer(pid)
            else:
                await state.room.remove_peer(pid)
        conn.info = ParticipantInfo(participant_id=pid, role=grant.role, name=grant.name)
        if seat is not None:
            conn.info.audio_muted, conn.info.video_muted = (
                seat.info.audio_muted,
                seat.info.video_muted,
            )
        conn.mute_told = {"audio": conn.info.audio_muted, "video": conn.info.video_muted}
        state.connections[pid] = conn
        token = state.resume_tokens[pid] = secrets.token_urlsafe(24)
        proto.joined()
        others = [c.info for p, c in state.connections.items() if p != pid and c.info]
        others += [held.info for p, held in state.held.items() if p != pid]
        reconnecting = [
            p for p, c in state.connections.items() if p != pid and c.silent_since is not None
        ] + [p for p in state.held if p != pid]
        await conn.send(
            Joined(
                session_id=grant.session_id,
                participant_id=pid,
                role=grant.role,
                name=grant.name,
                participants=others,
                ice_servers=[IceServer(urls=u) for u in self._ice_servers],
                resume_token=token,
                reconnect_grace_seconds=self.limits.reconnect_grace,
                resumed=decision.resumed,
                reconnecting=reconnecting,
                chat=list(state.chat),
                captions=self.live_captions,
            )
        )
        if state.room.active_speaker is not None:
            # Others learnt of this speaker when it changed; the newcomer learns it now.
            await conn.send(ActiveSpeaker(participant_id=state.room.active_speaker))
        if state.room.quality:
            await conn.send(_quality_message(state.room.quality))
        # Only now: the peer's first offer must reach the client after `joined`.
        state.room.add_peer(pid, conn.exchange, on_error=conn.report, role=grant.role)
        if told_reconnecting:
            log.info("participant.reconnected", session=grant.session_id, participant=pid)
            await self._broadcast(
                grant.session_id, ParticipantReconnected(participant_id=pid), exclude=pid
            )
        elif decision.announce:
            await self._broadcast(
                grant.session_id,
                ParticipantJoined(participant=conn.info),
                exclude=pid,
            )
        # A replaced connection did end, though others saw no change: the records say so.
        for record in decision.records:
            self._record(record)
        return grant, state

    async def handle(self, ws: WebSocket) -> None:
        """Serve one client from accept to close."""
        await ws.accept()
        conn = Connection(ws, send_timeout=self.limits.send_timeout)
        conn.allowance = float(self.limits.message_burst)
        proto = ConnectionProtocol()
        address = ws.client.host if ws.client is not None else ""
        if self._pending.get(address, 0) >= self.limits.max_pending_per_address:
            log.warning("too many unjoined connections", address=address)
            with contextlib.suppress(*GONE):
                await self._refuse(
                    conn,
                    "too_many_connections",
                    f"{self.limits.max_pending_per_address} connections from your address "
                    "have not joined yet; join on one of them or try again later",
                    CloseCode.TRY_AGAIN_LATER,
                )
            return
        self._pending[address] = self._pending.get(address, 0) + 1
        try:
            joined = await self._join(conn, proto)
        finally:
            left = self._pending.pop(address) - 1
            if left:
                self._pending[address] = left
        if joined is None:
            return
        grant, state = joined
        reason = "disconnected"
        watch = asyncio.create_task(self._watch_media(conn, grant, state), name="media-watch")
        try:
            reason = await self._serve(conn, proto, grant, state)
        except DISCONNECTED:
            reason = "disconnected"
        finally:
            proto.closed()
            await cancel_and_wait(watch)
            if conn.ending:
                reason = "ended"
            # A client killed mid-call must still leave the room (or, dropped, have its
            # seat held), whatever its socket does now: nothing in _leave lets a socket
            # error escape.
            dropped = reason == "disconnected" and not conn.expired and not self._closing
            if not dropped or self.limits.reconnect_grace <= 0:
                await self._leave(conn, grant, state, reason, at=conn.silent_since)
            else:
                await self._hold(conn, grant, state)

    async def _serve(
        self, conn: Connection, proto: ConnectionProtocol, grant: JoinGrant, state: RoomState
    ) -> str:
        pid = grant.participant_id
        while True:
            try:
                raw = await self._receive(conn, self.limits.idle_timeout)
            except TimeoutError:
                await conn.send(
                    Error(
                        code="idle_timeout",
                        message="nothing received within the idle timeout; send ping",
                    )
                )
                return "timeout"
            if raw is None:
                return "disconnected"
            if state.connections.get(pid) is not conn:
                return "replaced"
            message = None
            try:
                message = parse_client_message(raw, max_bytes=self.limits.max_message_bytes)
                # A leave, and the answer the server waits for, are never refused.
                if not isinstance(message, Leave | Answer) and not conn.take_message(
                    self.limits.message_rate, self.limits.message_burst
                ):
                    if conn.told_too_fast:
                        continue  # dropped; the client was told once
                    conn.told_too_fast = True
                    raise ProtocolError(
                        "too_many_messages",
                        f"more than {self.limits.message_rate:g} messages a second; messages "
                        "are dropped until you slow down",
                    )
                proto.check(message)
                await self._dispatch(conn, proto, message, grant, state)
            except ProtocolError as exc:
                await conn.send(Error(code=exc.code, message=exc.message))
            except (WebSocketDisconnect, ConnectionGone, asyncio.CancelledError):
                raise
            except Exception:
                # One message's bug must not end the call; the log has the traceback.
                log.exception("signaling message failed", session=grant.session_id, participant=pid)
                await conn.send(
                    Error(code="internal_error", message="the server failed to handle that message")
                )
            if isinstance(message, Leave):
                return "left"

    async def _dispatch(
        self,
        conn: Connection,
        proto: ConnectionProtocol,
        message: object,
        grant: JoinGrant,
        state: RoomState,
    ) -> None:
        pid = grant.participant_id
        if isinstance(message, Ping):
            await conn.send(Pong())
        elif isinstance(message, Answer):
            conn.deliver_answer(message.sdp)
        elif isinstance(message, Ice):
            await self._add_candidate(conn, state, pid, message)
        elif isinstance(message, Chat):
            await self._chat(conn, message, grant, state)
        elif isinstance(message, Screen):
            if message.sharing:
                state.room.share_screen(pid)
            else:
                await state.room.stop_screen(pid)
        elif isinstance(message, Captions):
            if message.on and not self.live_captions:
                raise ProtocolError(
                    "captions_unavailable",
                    "live captions are off on this server: speech is transcribed only after "
                    "the session (LIVECLASS_LIVE_TRANSCRIPTION)",
                )
            conn.captions = message.on
        elif isinstance(message, Mute):
            assert conn.info is not None
            setattr(conn.info, f"{message.kind}_muted", message.muted)
            await self._tell_mute(conn, grant, state)

    async def _tell_mute(self, conn: Connection, grant: JoinGrant, state: RoomState) -> None:
        """Tell the others this participant's mute state, bounded: ``MUTE_BURST`` changes go
        out at once, then one each ``MUTE_EVERY`` seconds carrying the latest state (a
        toggle and its undo inside one wait cost nobody anything)."""
        now = time.monotonic()
        conn.mute_allowance = min(
            MUTE_BURST, conn.mute_allowance + (now - conn.mute_at) / MUTE_EVERY
        )
        conn.mute_at = now
        if conn.mute_flush is not None:
            return  # a send of the latest state is already waiting
        if conn.mute_allowance >= 1:
            conn.mute_allowance -= 1
            await self._send_mute(conn, grant, state)
            return

        async def flush() -> None:
            try:
                await asyncio.sleep(MUTE_EVERY * (1 - conn.mute_allowance))
                conn.mute_allowance, conn.mute_at = 0.0, time.monotonic()
                if state.connections.get(grant.participant_id) is conn:
                    await self._send_mute(conn, grant, state)
            finally:
                conn.mute_flush = None

        conn.mute_flush = asyncio.create_task(flush(), name="mute-flush")
        self._background.add(conn.mute_flush)
        conn.mute_flush.add_done_callback(self._background.discard)

    async def _send_mute(self, conn: Connection, grant: JoinGrant, state: RoomState) -> None:
        """Send the others each mute state of ``conn`` that differs from what they were told."""
        assert conn.info is not None
        pid = grant.participant_id
        for kind in ("audio", "video"):
            muted = bool(getattr(conn.info, f"{kind}_muted"))
            if conn.mute_told.get(kind, False) == muted:
                continue
            conn.mute_told[kind] = muted
            await self._broadcast(
                grant.session_id,
                MuteChanged(participant_id=pid, kind=kind, muted=muted),
                exclude=pid,
            )

    async def _chat(
        self, conn: Connection, message: Chat, grant: JoinGrant, state: RoomState
    ) -> None:
        """Send a chat message to everyone in the room (the sender too, as the room saw
        it), keep it for newcomers and queue it for the session's record. Bounded: a
        connection may send ``CHAT_BURST`` messages, then one per ``CHAT_EVERY`` seconds."""
        text = message.text.strip()
        if not text:
            raise ProtocolError("invalid_message", "a chat message cannot be blank")
        now = time.monotonic()
        conn.chat_allowance = min(
            CHAT_BURST, conn.chat_allowance + (now - conn.chat_at) / CHAT_EVERY
        )
        conn.chat_at = now
        if conn.chat_allowance < 1:
            raise ProtocolError(
                "chat_too_fast",
                f"too many chat messages; wait {CHAT_EVERY:g} s and send it again",
            )
        conn.chat_allowance -= 1
        sent = ChatSent(
            id=new_id("cht"),
            participant_id=grant.participant_id,
            name=grant.name,
            role=grant.role,
            text=text,
            at=self._clock.now(),
        )
        state.chat.append(sent)
        if self._presence is not None:
            self._presence.submit(
                ChatRecord(
                    id=sent.id,
                    session_id=grant.session_id,
                    participant_id=sent.participant_id,
                    name=sent.name,
                    role=sent.role,
                    text=sent.text,
                    at=sent.at,
                )
            )
        await self._broadcast(grant.session_id, sent)

    def caption(self, session_id: str, participant_id: str, segments: Sequence[Spoken]) -> None:
        """Send newly transcribed speech (``ai_docs.live.LiveSegment``s) of one participant
        to everyone in the room who turned captions on; never waits for a slow reader."""
        state = self.rooms.get(session_id)
        if state is None:
            return
        conn = state.connections.get(participant_id)
        held = state.held.get(participant_id)
        info = conn.info if conn is not None else held.info if held is not None else None
        if info is None:
            return  # they left before their last words were transcribed
        for segment in segments:
            text = segment.text.strip()
            if not text:
                continue
            message = Caption(
                participant_id=participant_id, name=info.name, role=info.role, text=text
            )
            for pid, other in state.connections.items():
                if other.captions:
                    self._broadcast_soon(session_id, message, only=pid)

    async def _add_candidate(
        self, conn: Connection, state: RoomState, pid: str, message: Ice
    ) -> None:
        line = message.candidate.removeprefix("a=").removeprefix("candidate:")
        if not line or ".local " in line:
            return  # end-of-candidates, or mDNS: resolving it would send multicast
        if conn.candidates >= self.limits.max_candidates:
            raise ProtocolError(
                "too_many_candidates",
                f"this connection has sent {self.limits.max_candidates} ICE candidates, the "
                "most one may; rejoin to start a new media connection",
            )
        try:
            candidate = candidate_from_sdp(line)
        except (AssertionError, ValueError, IndexError) as exc:  # aiortc asserts on short lines
            raise ProtocolError(
                "invalid_candidate", f"cannot parse ICE candidate {line[:80]!r}"
            ) from exc
        conn.candidates += 1
        server = conn.ws.scope.get("server")
        policy = CandidatePolicy.of(ice.gathering_addresses(), tuple(server) if server else None)
        why = refusal(candidate.ip, candidate.port, policy)
        if why is not None:
            raise ProtocolError("candidate_refused", f"{why}; send the client's own candidates")
        candidate.sdpMid = message.sdp_mid
        candidate.sdpMLineIndex = message.sdp_mline_index
        peer = state.room.peers.get(pid)
        if peer is not None:
            await peer.pc.addIceCandidate(candidate)

    async def _watch_media(self, conn: Connection, grant: JoinGrant, state: RoomState) -> None:
        """A link cut while the WebSocket stays open (TCP waits minutes to give up): when
        nothing comes over the participant's media connection for ``media_silence``, the
        others see them reconnecting, and reconnected when packets come again. Silent for
        the whole grace window, the connection is closed and the participant leaves."""
        pid = grant.participant_id
        interval = min(0.5, self.limits.media_silence / 4)
        heard, heard_at = 0, time.monotonic()
        while True:
            await asyncio.sleep(interval)
            peer = state.room.peers.get(pid)
            if peer is None or state.connections.get(pid) is not conn:
                continue
            now = time.monotonic()
            count = peer.packets_heard()
            if count != heard or count == 0:  # nothing yet: still connecting
                heard, heard_at = count, now
                if conn.silent_since is not None:
                    conn.silent_since = None
                    log.info("participant.reconnected", session=grant.session_id, participant=pid)
                    await self._broadcast(
                        grant.session_id, ParticipantReconnected(participant_id=pid), exclude=pid
                    )
                continue
            silent = now - heard_at
            if conn.silent_since is None and silent >= self.limits.media_silence:
                conn.silent_since, conn.silent_at = self._clock.now(), now
                log.info("participant.reconnecting", session=grant.session_id, participant=pid)
                await self._broadcast(
                    grant.session_id, ParticipantReconnecting(participant_id=pid), exclude=pid
                )
            elif silent >= self.limits.media_silence + self.limits.reconnect_grace:
                conn.expired = True
                await conn.close(CloseCode.TIMEOUT, "nothing received on the media connection")
                return

    async def _hold(self, conn: Connection, grant: JoinGrant, state: RoomState) -> None:
        """The connection dropped without a leave: keep the seat for the grace window.

        The others see ``participant.reconnecting`` (unless the media watch told them
        already); the participant's publications stay, detached, for a join with the
        resume token to pick up; when the window ends they leave as usual.
        """
        pid = grant.participant_id
        await conn.close(CloseCode.NORMAL, "disconnected")
        if state.connections.get(pid) is not conn:
            return  # replaced: the newer connection owns the participant now
        del state.connections[pid]
        assert conn.info is not None
        since = conn.silent_since or self._clock.now()
        # The window runs from the drop: a link that went quiet before its socket closed
        # has used part of it already.
        grace = self.limits.reconnect_grace
        if conn.silent_since is not None:
            grace = max(0.0, grace - (time.monotonic() - conn.silent_at))
        timer = asyncio.create_task(
            self._expire(grant, state, grace), name=f"reconnect-grace-{grant.session_id}-{pid}"
        )
        state.held[pid] = HeldSeat(grant, conn.info, since, timer)
        try:
            await state.room.hold_peer(pid)
            if conn.silent_since is None:
                log.info("participant.reconnecting", session=grant.session_id, participant=pid)
                await self._broadcast(
                    grant.session_id, ParticipantReconnecting(participant_id=pid), exclude=pid
                )
        except Exception:
            log.exception("holding a seat failed", session=grant.session_id, participant=pid)

    async def withdraw_recording(self, participant_id: str) -> list[str]:
        """A guardian withdrew recording consent: stop ``participant_id``'s recording in
        every room of this node they are in (the file so far is deleted, and they are
        not recorded again in that session). Returns those rooms' session ids."""
        stopped = []
        for session_id, state in list(self.rooms.items()):
            recorder = state.room.recorder
            present = participant_id in state.connections or participant_id in state.held
            if recorder is None or recorder.closed or not present:
                continue
            await recorder.withdraw(participant_id)
            stopped.append(session_id)
            log.info("recording withdrawn", session=session_id, participant=participant_id)
        return stopped

    async def end_room(self, session_id: str) -> int:
        """The session was ended: everyone in its room is let go (closed with
        ``SESSION_ENDED``, so clients do not rejoin) and held seats are given up; each
        leaves with reason ``ended``. Returns how many connections were closed."""
        state = self.rooms.get(session_id)
        if state is None:
            return 0
        for pid, seat in list(state.held.items()):
            seat.timer.cancel()
            state.held.pop(pid, None)
            await self._remove(seat.grant, state, "ended", at=seat.since)
        conns = list(state.connections.values())
        for conn in conns:
            conn.ending = True
            await conn.close(CloseCode.SESSION_ENDED, "the session was ended")
        log.info("room ended", session=session_id, connections=len(conns))
        return len(conns)

    async def _expire(self, grant: JoinGrant, state: RoomState, grace: float) -> None:
        """The grace window ran out: the held seat's participant leaves, as of their drop."""
        await asyncio.sleep(grace)
        seat = state.held.pop(grant.participant_id, None)
        if seat is None:
            return
        await self._remove(grant, state, "disconnected", at=seat.since)

    async def _leave(
        self,
        conn: Connection,
        grant: JoinGrant,
        state: RoomState,
        reason: str,
        *,
        at: datetime | None = None,
    ) -> None:
        """Take the participant out of the room and tell the others; each step runs even
        if one before it failed, so no participant outlives its connection. ``at``: when
        they were last there, if earlier than now (a link silent since)."""
        pid = grant.participant_id
        await conn.close(CloseCode.TIMEOUT if reason == "timeout" else CloseCode.NORMAL, reason)
        if state.connections.get(pid) is not conn:
            return  # replaced: the newer connection owns the participant now
        del state.connections[pid]
        await self._remove(grant, state, reason, at=at)

    async def _remove(
        self, grant: JoinGrant, state: RoomState, reason: str, *, at: datetime | None = None
    ) -> None:
        pid = grant.participant_id
        state.resume_tokens.pop(pid, None)
        # Stamped when the room changed (or they were last heard), though written after
        # the others are told.
        left = PresenceRecord(
            "participant.left",
            grant.session_id,
            pid,
            grant.role,
            at or self._clock.now(),
            reason=reason,
        )
        self._record(left)
        tracks = [(p.kind, p.source) for p in state.room.publications.get(pid, [])]
        try:
            await state.room.remove_peer(pid)
            for kind, source in tracks:
                await self._broadcast(
                    grant.session_id,
                    TrackUnpublished(participant_id=pid, kind=kind, source=source),
                    exclude=pid,
                )
            await self._broadcast(
                grant.session_id,
                ParticipantLeft(
                    participant_id=pid,
                    reason=reason if reason in ("left", "timeout", "ended") else "disconnected",
                ),
                exclude=pid,
            )
        except Exception:
            log.exception("telling the room of a leave failed", session=grant.session_id)
        finally:
            if state.empty and self.rooms.get(grant.session_id) is state:
                del self.rooms[grant.session_id]
                await self._close_room(grant.session_id, state)

    async def _close_room(self, session_id: str, state: RoomState) -> None:
        """Close the room, then finish its recording and hand the files on."""
        await state.room.aclose()
        recorder = state.room.recorder
        if recorder is None or recorder.closed:
            return
        tracks = await recorder.aclose()
        if self._on_recording is None:
            return
        # The leaves are written before the recording is announced, as they happened.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.limits.drain_timeout):
                await self.flush_presence()
        try:
            async with asyncio.timeout(self.limits.record_timeout):
                await self._on_recording(session_id, tracks)
        except Exception:
            # The files stay on disk; the log says which session's were not handed on.
            log.exception("recording sink failed", session=session_id, files=len(tracks))

    async def aclose(self) -> None:
        self._closing = True
        for task in list(self._background):
            task.cancel()
        for session_id, state in list(self.rooms.items()):
            for seat in state.held.values():
                seat.timer.cancel()
            for conn in list(state.connections.values()):
                await conn.close(1001, "server shutting down")
            await self._close_room(session_id, state)
        self.rooms.clear()
        if self._presence is not None:
            await self._presence.aclose(timeout=self.limits.drain_timeout)
