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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc.sdp import candidate_from_sdp
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from core.clock import Clock
from core.logging import get_logger
from sfu.errors import IcePortsExhausted, SfuError
from sfu.peer import TrackInfo
from sfu.recording import RecordedTrack, Recorder
from sfu.room import Room
from signaling.admission import JoinFacts, Refused, admit
from signaling.errors import JoinTokenError
from signaling.presence import PresenceRecord, PresenceSink, PresenceWriter
from signaling.protocol import (
    ActiveSpeaker,
    Answer,
    CloseCode,
    ConnectionProtocol,
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
    Ping,
    Pong,
    ProtocolError,
    ServerOffer,
    TrackPublished,
    TrackRef,
    TrackUnpublished,
    encode,
    parse_client_message,
    video_notice,
)
from signaling.tokens import JoinGrant, verify_join_token

log = get_logger("liveclass.signaling")


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


class Connection:
    """One client's WebSocket: serialised sends, and the pending answer to an SFU offer."""

    def __init__(self, ws: WebSocket, *, send_timeout: float) -> None:
        self.ws = ws
        self.info: ParticipantInfo | None = None
        self._send_timeout = send_timeout
        self._lock = asyncio.Lock()
        self._answer: asyncio.Future[str] | None = None

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
            TrackRef(mid=t.mid, kind=t.kind, participant_id=t.participant_id, publish=t.publish)
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
class RoomState:
    room: Room
    connections: dict[str, Connection] = field(default_factory=dict)


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
    ) -> None:
        """``recorder_for`` gives each new room its recorder; when the room closes (the
        last participant left, or the server shuts down) the recorder is closed and
        ``on_recording`` hears its files. ``still_admitted`` re-checks, at each join,
        that the token's holder still belongs to the session: a token outlives changes
        to who teaches or attends it."""
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
        self.rooms: dict[str, RoomState] = {}
        self._background: set[asyncio.Task[None]] = set()

    def _room(self, session_id: str) -> RoomState:
        state = self.rooms.get(session_id)
        if state is None:
            state = RoomState(
                Room(
                    session_id,
                    max_participants=self.limits.max_participants,
                    ice_servers=self._ice_servers,
                    on_publish=lambda pid, kind: self._broadcast_soon(
                        session_id,
                        TrackPublished(participant_id=pid, kind=kind),
                        exclude=pid,
                    ),
                    on_active_speaker=lambda pid: self._broadcast_soon(
                        session_id, ActiveSpeaker(participant_id=pid)
                    ),
                    on_video_allocation=lambda sub, pub, after, before: self._tell_soon(
                        session_id, sub, video_notice(pub, after, before)
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
        present = {
            pid: c.info.role if c.info else grant.role
            for pid, c in (current.connections.items() if current else ())
        }
        decision = admit(
            grant,
            JoinFacts(
                session_open=session_open,
                still_admitted=still_admitted,
                present=present,
                max_participants=self.limits.max_participants,
                now=self._clock.now(),
            ),
        )
        if isinstance(decision, Refused):
            await self._refuse(conn, decision.code, decision.message, decision.close_code)
            return None
        state = self._room(grant.session_id)
        if decision.replaces:
            # The same participant again (a reload, a new device): the newer connection wins.
            old = state.connections.pop(grant.participant_id, None)
            if old is not None:
                await old.close(CloseCode.REPLACED, "replaced by a newer connection")
            await state.room.remove_peer(grant.participant_id)
        conn.info = ParticipantInfo(
            participant_id=grant.participant_id, role=grant.role, name=grant.name
        )
        state.connections[grant.participant_id] = conn
        proto.joined()
        others = [
            c.info for pid, c in state.connections.items() if pid != grant.participant_id and c.info
        ]
        await conn.send(
            Joined(
                session_id=grant.session_id,
                participant_id=grant.participant_id,
                role=grant.role,
                name=grant.name,
                participants=others,
                ice_servers=[IceServer(urls=u) for u in self._ice_servers],
            )
        )
        if state.room.active_speaker is not None:
            # Others learnt of this speaker when it changed; the newcomer learns it now.
            await conn.send(ActiveSpeaker(participant_id=state.room.active_speaker))
        # Only now: the peer's first offer must reach the client after `joined`.
        state.room.add_peer(
            grant.participant_id, conn.exchange, on_error=conn.report, role=grant.role
        )
        if decision.announce:
            await self._broadcast(
                grant.session_id,
                ParticipantJoined(participant=conn.info),
                exclude=grant.participant_id,
            )
        # A replaced connection did end, though others saw no change: the records say so.
        for record in decision.records:
            self._record(record)
        return grant, state

    async def handle(self, ws: WebSocket) -> None:
        """Serve one client from accept to close."""
        await ws.accept()
        conn = Connection(ws, send_timeout=self.limits.send_timeout)
        proto = ConnectionProtocol()
        joined = await self._join(conn, proto)
        if joined is None:
            return
        grant, state = joined
        reason = "disconnected"
        try:
            reason = await self._serve(conn, proto, grant, state)
        except DISCONNECTED:
            reason = "disconnected"
        finally:
            proto.closed()
            # A client killed mid-call must still leave the room, whatever its socket
            # does now: nothing in _leave lets a socket error escape.
            await self._leave(conn, grant, state, reason)

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
            await self._add_candidate(state, pid, message)
        elif isinstance(message, Mute):
            assert conn.info is not None
            setattr(conn.info, f"{message.kind}_muted", message.muted)
            await self._broadcast(
                grant.session_id,
                MuteChanged(participant_id=pid, kind=message.kind, muted=message.muted),
                exclude=pid,
            )

    async def _add_candidate(self, state: RoomState, pid: str, message: Ice) -> None:
        line = message.candidate.removeprefix("a=").removeprefix("candidate:")
        if not line or ".local " in line:
            return  # end-of-candidates, or mDNS: resolving it would send multicast
        try:
            candidate = candidate_from_sdp(line)
        except (AssertionError, ValueError, IndexError) as exc:  # aiortc asserts on short lines
            raise ProtocolError(
                "invalid_candidate", f"cannot parse ICE candidate {line[:80]!r}"
            ) from exc
        candidate.sdpMid = message.sdp_mid
        candidate.sdpMLineIndex = message.sdp_mline_index
        peer = state.room.peers.get(pid)
        if peer is not None:
            await peer.pc.addIceCandidate(candidate)

    async def _leave(
        self, conn: Connection, grant: JoinGrant, state: RoomState, reason: str
    ) -> None:
        """Take the participant out of the room and tell the others; each step runs even
        if one before it failed, so no participant outlives its connection."""
        pid = grant.participant_id
        await conn.close(CloseCode.TIMEOUT if reason == "timeout" else CloseCode.NORMAL, reason)
        if state.connections.get(pid) is not conn:
            return  # replaced: the newer connection owns the participant now
        del state.connections[pid]
        # Stamped now, when the room changed, though written after others are told.
        left = PresenceRecord(
            "participant.left", grant.session_id, pid, grant.role, self._clock.now(), reason=reason
        )
        self._record(left)
        kinds = [p.kind for p in state.room.publications.get(pid, [])]
        try:
            await state.room.remove_peer(pid)
            for kind in kinds:
                await self._broadcast(
                    grant.session_id, TrackUnpublished(participant_id=pid, kind=kind), exclude=pid
                )
            await self._broadcast(
                grant.session_id,
                ParticipantLeft(
                    participant_id=pid,
                    reason=reason if reason in ("left", "timeout") else "disconnected",
                ),
                exclude=pid,
            )
        except Exception:
            log.exception("telling the room of a leave failed", session=grant.session_id)
        finally:
            if not state.connections and self.rooms.get(grant.session_id) is state:
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
        for task in list(self._background):
            task.cancel()
        for session_id, state in list(self.rooms.items()):
            for conn in list(state.connections.values()):
                await conn.close(1001, "server shutting down")
            await self._close_room(session_id, state)
        self.rooms.clear()
        if self._presence is not None:
            await self._presence.aclose(timeout=self.limits.drain_timeout)
