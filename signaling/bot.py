"""``liveclass bot``: a participant that joins over signaling, publishes, and reports.

It joins with a join token, publishes the pre-encoded synthetic loop (or
the same with silent audio, a VP8/Opus file as it is, or nothing), answers
every SFU offer, and after N seconds leaves and reports the audio and video
frames it received from each other participant, and whom the server named
active speaker. ``ok`` means media arrived from everyone else who published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sfu.bot import BotPeer, Reception
from sfu.errors import SfuError
from sfu.synthetic import VIDEO_SIZE, EncodedLoop, audio_loop, video_loop
from signaling.protocol import PROTOCOL_VERSION, CloseCode, TrackRef

PRESENCE_TYPES = (
    "participant.joined",
    "participant.left",
    "participant.reconnecting",
    "participant.reconnected",
)


class BotError(SfuError):
    """The bot could not join or was refused; the message says why."""

    code = "bot_failed"


@dataclass
class BotReport:
    session_id: str
    participant_id: str = ""
    seconds: float = 0.0
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: dict[str, set[str]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    active_speakers: list[str | None] = field(default_factory=list)  # each change, in order
    # video_paused / video_resumed / video_thinned, as received, in order
    video_notices: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # frames we published, by kind
    resume_token: str = ""  # of the last joined: for coming back into the seat
    resumed: bool = False  # a join of this stay took back a held seat
    reconnects: list[float] = field(default_factory=list)  # when each drop was noticed
    # participant.joined / left / reconnecting / reconnected: type, participant_id, at
    presence: list[dict[str, Any]] = field(default_factory=list)
    offers: list[float] = field(default_factory=list)  # when each SFU offer came
    # connection_quality as it came: at, and each participant's rating
    quality: list[dict[str, Any]] = field(default_factory=list)
    # track.published / track.unpublished as they came, with at
    tracks: list[dict[str, Any]] = field(default_factory=list)
    # caption messages as they came (with ``captions=True``), with at
    captions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Media came from every other participant who published, for each kind they published."""
        if not self.published:
            return False
        for pid, kinds in self.published.items():
            got = self.participants.get(pid, {})
            if any(got.get(kind, 0) == 0 for kind in kinds):
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "participant_id": self.participant_id,
            "seconds": round(self.seconds, 2),
            "participants": self.participants,
            "ok": self.ok,
            "errors": self.errors,
            "active_speakers": self.active_speakers,
            "video_notices": self.video_notices,
            "sent": self.sent,
            "resumed": self.resumed,
            "reconnects": self.reconnects,
            "presence": self.presence,
            "offers": self.offers,
            "quality": self.quality,
            "tracks": self.tracks,
        }


def session_of(token: str) -> str:
    """The session a join token names (read, not verified: the server verifies)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise BotError("the join token is not a token; copy it whole from the join link") from exc
    return str(claims.get("sid", ""))


async def _send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps({"v": PROTOCOL_VERSION, **message}))


class _Dropped(ConnectionError):
    """The server closed our WebSocket, or it broke: not a leave of ours."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"the signaling connection closed ({code})")
        self.code = code


# Close codes after which coming back would be refused, or would fight another connection.
_FINAL_CLOSES = {
    CloseCode.REPLACED,
    CloseCode.JOIN_REFUSED,
    CloseCode.SESSION_NOT_FOUND,
    CloseCode.SESSION_ENDED,
}
RECONNECT_DELAY = 0.5  # seconds between attempts while the server cannot be reached


async def run_bot(
    url: str,
    token: str,
    *,
    seconds: float,
    publish: bool = True,
    silent: bool = False,
    media: tuple[EncodedLoop, ...] | None = None,
    media_seconds: float | None = None,
    timeline: bool = False,
    video_size: tuple[int, int] = VIDEO_SIZE,
    resume_token: str | None = None,
    reconnect: bool = True,
    drop: bool = False,
    share: Sequence[tuple[float, float]] = (),
    captions: bool = False,
) -> BotReport:
    """Join, exchange media for ``seconds``, leave; return what was received.

    ``silent`` publishes silence instead of the tone (a muted microphone);
    ``media`` publishes these loops instead (a file's, ``sfu.media_file``).
    With ``media_seconds`` the bot leaves that long after media first came from
    everyone publishing, and ``seconds`` only bounds the wait: how long ICE and DTLS
    take depends on the machine, and a fixed stay measures that instead of the media.
    ``timeline`` adds, per participant, when each audio packet and each decodable
    video frame arrived (``time.monotonic()``, the same clock in every process of
    the machine), for measurements over a stretch of the stay. ``video_size``:
    of the synthetic video published. Each video notice (``video_paused`` and
    the like) is kept with the time it came, ``at``, on the same clock, and so
    is each presence message (joined, left, reconnecting, reconnected).

    Like the browser client, a bot whose WebSocket drops comes back at once with
    the resume token of its last ``joined`` (``reconnect``), on a new peer
    connection, trying every ``RECONNECT_DELAY`` until the stay ends;
    ``resume_token`` starts with one (another process's seat). ``drop`` ends the
    stay by closing the socket without a leave, as a crash would. ``share``:
    windows (start, stop), in seconds after joining, in which the bot shares a
    screen (a second synthetic video); a share starts again after a reconnect.
    ``captions`` turns live captions on after each join and keeps what comes.
    """
    report = BotReport(session_id=session_of(token))
    names: dict[str, str] = {}
    if publish and media is None:
        # Encoded once per process (cached), but that once took up to 1.9 s with a
        # second bot and the server on two cores: done inside the stay, it left a
        # 4 s bot under a second of the other's media (tests/api/test_cli.py).
        audio = audio_loop(amplitude=0.0) if silent else audio_loop()
        media = (audio, video_loop(size=video_size))
    started = time.monotonic()
    deadline = started + seconds
    peers: list[BotPeer] = []
    while True:
        try:
            await _connection(
                url,
                token,
                report,
                names,
                peers,
                resume_token=report.resume_token or resume_token,
                deadline=deadline,
                media_seconds=media_seconds,
                drop=drop,
                share=share,
                captions=captions,
                peer_options={
                    "publish": publish,
                    "silent": silent,
                    "media": media,
                    "video_size": video_size,
                },
            )
            break
        except (_Dropped, ConnectionClosed, OSError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, _Dropped) else None
            if not reconnect or code in _FINAL_CLOSES or time.monotonic() >= deadline:
                if isinstance(exc, _Dropped | ConnectionClosed) and not peers:
                    raise BotError(f"could not join: {exc}") from exc
                if not reconnect or code in _FINAL_CLOSES:
                    report.errors.append({"code": "connection_closed", "message": str(exc)})
                break
            report.reconnects.append(time.monotonic())
            await asyncio.sleep(RECONNECT_DELAY)
    report.seconds = time.monotonic() - started
    for peer in peers:
        for track in peer.tracks:
            report.sent[track.kind] = report.sent.get(track.kind, 0) + track.frames_sent
    for pid in {pid for peer in peers for pid in peer.received}:
        report.participants[pid] = _entry(
            [peer.received[pid] for peer in peers if pid in peer.received],
            names.get(pid, ""),
            started,
            timeline=timeline,
        )
    return report


async def _connection(
    url: str,
    token: str,
    report: BotReport,
    names: dict[str, str],
    peers: list[BotPeer],
    *,
    resume_token: str | None,
    deadline: float,
    media_seconds: float | None,
    drop: bool,
    share: Sequence[tuple[float, float]],
    captions: bool,
    peer_options: dict[str, Any],
) -> None:
    """One WebSocket's life: join (resuming if we can), stay, leave; ``_Dropped`` if it broke."""
    async with connect(url, open_timeout=10, max_size=2**20) as ws:
        resume = {"resume_token": resume_token} if resume_token else {}
        await _send(ws, type="join", session_id=report.session_id, token=token, **resume)
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if first.get("type") != "joined":
            raise BotError(f"join refused: {first.get('code')}: {first.get('message')}")
        report.participant_id = first["participant_id"]
        report.resume_token = first.get("resume_token", "")
        report.resumed = report.resumed or bool(first.get("resumed"))
        names.update({p["participant_id"]: p["name"] for p in first["participants"]})
        peer = BotPeer(ice_servers=[s["urls"] for s in first["ice_servers"]], **peer_options)
        peers.append(peer)
        if captions:
            await _send(ws, type="captions", on=True)

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "offer":
                    report.offers.append(time.monotonic())
                    refs = [TrackRef.model_validate(t) for t in msg["tracks"]]
                    for ref in refs:
                        if ref.participant_id and not ref.publish:
                            report.published.setdefault(ref.participant_id, set()).add(ref.kind)
                    await _send(ws, type="answer", sdp=await peer.answer_offer(msg["sdp"], refs))
                elif kind in PRESENCE_TYPES:
                    if kind == "participant.joined":
                        names[msg["participant"]["participant_id"]] = msg["participant"]["name"]
                    who = msg.get("participant_id") or msg["participant"]["participant_id"]
                    report.presence.append(
                        {"type": kind, "participant_id": who, "at": time.monotonic()}
                    )
                elif kind == "active_speaker":
                    report.active_speakers.append(msg["participant_id"])
                elif kind == "connection_quality":
                    ratings = {p["participant_id"]: p["quality"] for p in msg["participants"]}
                    report.quality.append({"at": time.monotonic(), "ratings": ratings})
                elif kind in ("track.published", "track.unpublished"):
                    report.tracks.append({**msg, "at": time.monotonic()})
                elif kind in ("video_paused", "video_resumed", "video_thinned"):
                    report.video_notices.append({**msg, "at": time.monotonic()})
                elif kind == "caption":
                    report.captions.append({**msg, "at": time.monotonic()})
                elif kind == "error":
                    report.errors.append({"code": msg["code"], "message": msg["message"]})
            raise _Dropped(ws.close_code)

        async def keepalive() -> None:
            while True:
                await asyncio.sleep(10)
                await _send(ws, type="ping")

        joined_at = time.monotonic()

        async def sharer() -> None:
            for start, stop in share:
                await asyncio.sleep(max(0.0, joined_at + start - time.monotonic()))
                peer.share_screen()
                await _send(ws, type="screen", sharing=True)
                await asyncio.sleep(max(0.0, joined_at + stop - time.monotonic()))
                peer.stop_screen()
                await _send(ws, type="screen", sharing=False)
            await asyncio.Event().wait()  # done: a finished task would end the stay

        tasks = [asyncio.create_task(reader()), asyncio.create_task(keepalive())]
        if share:
            tasks.append(asyncio.create_task(sharer()))
        left = False
        try:
            await _stay(tasks, report, peer, deadline=deadline, media_seconds=media_seconds)
            left = True
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if left and not drop:
                with contextlib.suppress(Exception):
                    await _send(ws, type="leave")
            await peer.aclose()


def _entry(
    receptions: list[Reception], name: str, started: float, *, timeline: bool
) -> dict[str, Any]:
    """What came from one participant, over every connection of the stay."""
    shares = [got.packets.share() for got in receptions]
    firsts = [got.first_video_at for got in receptions if got.first_video_at is not None]
    entry: dict[str, Any] = {
        "name": name,
        "audio": sum(got.audio for got in receptions),
        "video": sum(got.video for got in receptions),
        "screen": sum(got.screen for got in receptions),
        "last_screen_at": max(
            (got.last_screen_at for got in receptions if got.last_screen_at), default=None
        ),
        "first_video_s": round(min(firsts) - started, 3) if firsts else None,
        "audio_packets": sum(packets for packets, _ in shares),
        "audio_expected": sum(expected for _, expected in shares),
        "video_decodable": sum(len(got.pictures.decoded) for got in receptions),
        "longest_freeze_s": round(
            max((got.pictures.longest_freeze() for got in receptions), default=0.0), 3
        ),
    }
    if timeline:
        entry["audio_arrivals"] = [
            [seq, round(at, 4)] for got in receptions for seq, at in got.packets.arrivals.items()
        ]
        entry["video_decoded"] = [
            [round(d.at, 4), round(d.media_time, 4), d.keyframe]
            for got in receptions
            for d in got.pictures.decoded
        ]
    return entry


def _all_media(report: BotReport, peer: BotPeer) -> bool:
    """Whether media of every kind has come from everyone who publishes."""
    if not report.published:
        return False
    for pid, kinds in report.published.items():
        got = peer.received.get(pid)
        if got is None or any(getattr(got, kind) == 0 for kind in kinds):
            return False
    return True


async def _stay(
    tasks: list[asyncio.Task[None]],
    report: BotReport,
    peer: BotPeer,
    *,
    deadline: float,
    media_seconds: float | None,
) -> None:
    """Wait until ``deadline``, or ``media_seconds`` after all media arrived; a task's
    error raises."""
    media_since: float | None = None
    while (now := time.monotonic()) < deadline:
        if media_seconds is not None:
            if media_since is None and _all_media(report, peer):
                media_since = now
            if media_since is not None and now - media_since >= media_seconds:
                return
        step = deadline - now if media_seconds is None else min(0.05, deadline - now)
        done, pending = await asyncio.wait(tasks, timeout=step, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
        if not pending:
            return
