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
from dataclasses import dataclass, field
from typing import Any

import jwt
from websockets.asyncio.client import ClientConnection, connect

from sfu.bot import BotPeer
from sfu.errors import SfuError
from sfu.synthetic import VIDEO_SIZE, EncodedLoop
from signaling.protocol import PROTOCOL_VERSION, TrackRef


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
    the like) is kept with the time it came, ``at``, on the same clock.
    """
    report = BotReport(session_id=session_of(token))
    async with connect(url, open_timeout=10, max_size=2**20) as ws:
        await _send(ws, type="join", session_id=report.session_id, token=token)
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if first.get("type") != "joined":
            raise BotError(f"join refused: {first.get('code')}: {first.get('message')}")
        report.participant_id = first["participant_id"]
        names = {p["participant_id"]: p["name"] for p in first["participants"]}
        peer = BotPeer(
            ice_servers=[s["urls"] for s in first["ice_servers"]],
            publish=publish,
            silent=silent,
            media=media,
            video_size=video_size,
        )
        started = time.monotonic()

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "offer":
                    refs = [TrackRef.model_validate(t) for t in msg["tracks"]]
                    for ref in refs:
                        if ref.participant_id and not ref.publish:
                            report.published.setdefault(ref.participant_id, set()).add(ref.kind)
                    await _send(ws, type="answer", sdp=await peer.answer_offer(msg["sdp"], refs))
                elif kind == "participant.joined":
                    names[msg["participant"]["participant_id"]] = msg["participant"]["name"]
                elif kind == "active_speaker":
                    report.active_speakers.append(msg["participant_id"])
                elif kind in ("video_paused", "video_resumed", "video_thinned"):
                    report.video_notices.append({**msg, "at": time.monotonic()})
                elif kind == "error":
                    report.errors.append({"code": msg["code"], "message": msg["message"]})

        async def keepalive() -> None:
            while True:
                await asyncio.sleep(10)
                await _send(ws, type="ping")

        tasks = [asyncio.create_task(reader()), asyncio.create_task(keepalive())]
        try:
            await _stay(tasks, report, peer, seconds=seconds, media_seconds=media_seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            report.seconds = time.monotonic() - started
            with contextlib.suppress(Exception):
                await _send(ws, type="leave")
            await peer.aclose()
        report.sent = {track.kind: track.frames_sent for track in peer.tracks}
        for pid, got in peer.received.items():
            packets, expected = got.packets.share()
            entry: dict[str, Any] = {
                "name": names.get(pid, ""),
                "audio": got.audio,
                "video": got.video,
                "first_video_s": None
                if got.first_video_at is None
                else round(got.first_video_at - started, 3),
                "audio_packets": packets,
                "audio_expected": expected,
                "video_decodable": len(got.pictures.decoded),
                "longest_freeze_s": round(got.pictures.longest_freeze(), 3),
            }
            if timeline:
                entry["audio_arrivals"] = [
                    [seq, round(at, 4)] for seq, at in got.packets.arrivals.items()
                ]
                entry["video_decoded"] = [
                    [round(d.at, 4), round(d.media_time, 4), d.keyframe]
                    for d in got.pictures.decoded
                ]
            report.participants[pid] = entry
    return report


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
    seconds: float,
    media_seconds: float | None,
) -> None:
    """Wait ``seconds``, or ``media_seconds`` after all media arrived; a task's error raises."""
    deadline = time.monotonic() + seconds
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
