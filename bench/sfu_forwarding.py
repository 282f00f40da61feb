"""How much CPU forwarding costs: Liveclass's SFU beside a decode-and-re-encode relay.

    python -m bench.sfu_forwarding [--sessions 60] [--compare-sessions 4] [--seconds 15]

Each phase starts a media server in its own process (``bench.media_server``),
pinned to CPU 0, and runs 1:1 sessions of bots (replaying pre-encoded VP8 and
Opus, so they cost little) in this process, pinned to CPU 1. After every bot
receives its partner's media and a warm-up, it measures for
``--seconds``: the server's CPU time, and the frames the bots sent and received.

Phases, in one run: both servers with the same small number of sessions, with
audio and video and with video alone (CPU per forwarded video track, side by
side), then the SFU alone with ``--sessions`` (capacity on one core), the same
with video alone (a busy SFU's cost per video track), then the SFU with one
group session of ``--group`` (a tutor and four students by default: each of
them gets the other four). ``--capacity-only`` runs the capacity phase alone.
The bots are ``bench.packet_bot``'s unless ``--bots aiortc``. Everything stays
on 127.0.0.1.

``--live-transcription`` runs other phases instead: the bots speak (espeak-ng
lines, as Opus), and the SFU runs with ``--compare-sessions`` and then
``--sessions``, each three times: as it is, recording every participant, and
recording and transcribing every participant live (``bench.media_server
--live-transcription``: one worker process, on the server's CPU). Delivery
must not change; the workers' CPU and how far behind they fell are reported
beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import uvloop

from bench.packet_bot import Metronome, PacketBot
from bench.wire import MAX_LINE, Message, read_message, write_message
from sfu import ice
from sfu.bot import BotPeer
from sfu.peer import TrackInfo
from sfu.synthetic import EncodedLoop, EncodedLoopTrack, audio_loop, video_loop

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU, BOTS_CPU = 0, 1


@dataclass
class PhaseResult:
    server: str
    sessions: int
    kinds: str
    room_size: int  # participants per session; each receives every other one
    seconds: float
    forwarded_tracks: int
    server_cores: float  # CPU seconds per second of the server process
    server_ms_per_track: float  # CPU milliseconds per second, per forwarded track
    server_kernel_share: float  # of the server's CPU, the share spent in the kernel
    bots_cores: float
    video_sent: int  # frames sent, times the participants that should receive each
    video_received: int
    audio_sent: int
    audio_received: int
    setup_s: float
    recorded: bool = False  # every participant's audio recorded meanwhile
    live: bool = False  # and transcribed live
    live_worker_cores: float | None = None  # CPU of the live workers, per second
    live_behind_s: float | None = None  # how far behind they were at the window's end

    @property
    def video_delivered(self) -> float | None:
        return self.video_received / self.video_sent if self.video_sent else None

    @property
    def audio_delivered(self) -> float | None:
        return self.audio_received / self.audio_sent if self.audio_sent else None


@dataclass
class _Snapshot:
    server: Message
    bots_cpu: float
    wall: float
    sent: dict[str, int]
    received: dict[str, int]


class Phase:
    """One server process, ``sessions`` pairs of bots, one measurement window."""

    def __init__(
        self,
        server: str,
        sessions: int,
        kinds: tuple[str, ...],
        video: EncodedLoop,
        profile: Path | None = None,
        room_size: int = 2,
        loop: str = "uvloop",
        bots: str = "packets",
        *,
        audio: EncodedLoop | None = None,
        live: bool = False,
        record: bool = False,
    ) -> None:
        self.profile = profile
        self.audio = audio
        self.live = live
        self.record = record or live
        self.server = server
        self.sessions = sessions
        self.room_size = room_size
        self.loop = loop
        self.bot_kind = bots
        self.kinds = kinds
        self.video = video
        self.bots: dict[str, BotPeer | PacketBot] = {}
        self.partner: dict[str, str] = {}  # 1:1 sessions: the relay pairs them
        self.others: dict[str, list[str]] = {}  # everyone a bot should receive
        self._stats: asyncio.Queue[Message] = asyncio.Queue()
        self.metronome = Metronome()

    async def run(self, *, seconds: float, warmup: float, connect_timeout: float) -> PhaseResult:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.media_server",
            "--mode",
            self.server,
            *(["--cpu", str(SERVER_CPU)] if PIN else []),
            "--loop",
            self.loop,
            *(["--live-transcription"] if self.live else ["--record"] if self.record else []),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line.startswith(b"PORT "):
                raise RuntimeError(f"media server did not start: {line!r}")
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", int(line.split()[1]), limit=MAX_LINE
            )
            pump = asyncio.create_task(self._pump(reader, writer))
            try:
                started = time.monotonic()
                self.metronome.start()
                await self._join_all(writer)
                await self._wait_for_media(connect_timeout)
                setup = time.monotonic() - started
                await asyncio.sleep(warmup)
                before = await self._snapshot(writer)
                if self.profile is not None:
                    await write_message(writer, {"op": "profile", "path": None})
                await asyncio.sleep(seconds)
                if self.profile is not None:
                    await write_message(writer, {"op": "profile", "path": str(self.profile)})
                after = await self._snapshot(writer)
                await write_message(writer, {"op": "quit"})
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                await self.metronome.aclose()
                for bot in self.bots.values():
                    await bot.aclose()
            return self._result(before, after, setup)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()

    async def _join_all(self, writer: asyncio.StreamWriter) -> None:
        for n in range(self.sessions):
            if self.room_size == 2:
                pids = [f"s{n}-tutor", f"s{n}-student"]
            else:
                pids = [f"s{n}-tutor"] + [f"s{n}-student{k}" for k in range(1, self.room_size)]
            if len(pids) == 2:
                self.partner |= {pids[0]: pids[1], pids[1]: pids[0]}
            for pid in pids:
                self.others[pid] = [p for p in pids if p != pid]
                loops = {"audio": self.audio or audio_loop(), "video": self.video}
                if self.bot_kind == "packets":
                    self.bots[pid] = PacketBot(
                        tuple(loops[kind] for kind in self.kinds), self.metronome
                    )
                else:
                    bot = BotPeer(ice_servers=[], publish=True)
                    bot.tracks = [EncodedLoopTrack(loops[kind]) for kind in self.kinds]
                    self.bots[pid] = bot
            for pid in pids:
                await write_message(
                    writer,
                    {
                        "op": "join",
                        "room": f"s{n}",
                        "pid": pid,
                        "other": self.partner.get(pid, ""),
                        "size": self.room_size,
                    },
                )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answering: set[asyncio.Task[None]] = set()
        while (message := await read_message(reader)) is not None:
            if message["op"] == "offer":
                task = asyncio.create_task(self._answer(writer, message))
                answering.add(task)
                task.add_done_callback(answering.discard)
            elif message["op"] == "stats":
                self._stats.put_nowait(message)

    async def _answer(self, writer: asyncio.StreamWriter, offer: Message) -> None:
        refs = [TrackInfo(**t) for t in offer["tracks"]]
        sdp = await self.bots[offer["pid"]].answer_offer(offer["sdp"], refs)
        await write_message(writer, {"op": "answer", "pid": offer["pid"], "sdp": sdp})

    def _has_media(self, pid: str) -> bool:
        for other in self.others[pid]:
            got = self.bots[pid].received.get(other)
            if got is None or any(
                (got.first_video_at if kind == "video" else got.first_audio_at) is None
                for kind in self.kinds
            ):
                return False
        return True

    async def _wait_for_media(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(self._has_media(pid) for pid in self.bots):
            if time.monotonic() > deadline:
                waiting = sum(not self._has_media(pid) for pid in self.bots)
                raise TimeoutError(
                    f"{waiting} of {len(self.bots)} bots got no media within {timeout:.0f} s "
                    f"({self.server}, {self.sessions} sessions); try fewer sessions"
                )
            await asyncio.sleep(0.1)

    async def _snapshot(self, writer: asyncio.StreamWriter) -> _Snapshot:
        await write_message(writer, {"op": "stats"})
        server = await asyncio.wait_for(self._stats.get(), 10)
        sent = dict.fromkeys(("audio", "video"), 0)
        received = dict.fromkeys(("audio", "video"), 0)
        for pid, bot in self.bots.items():
            for track in bot.tracks:
                sent[track.kind] += track.frames_sent * (self.room_size - 1)
            for other in self.others[pid]:
                got = bot.received.get(other)
                if got is not None:
                    received["audio"] += got.audio
                    received["video"] += got.video
        return _Snapshot(server, time.process_time(), time.monotonic(), sent, received)

    def _result(self, before: _Snapshot, after: _Snapshot, setup: float) -> PhaseResult:
        wall = after.wall - before.wall
        server_wall = after.server["wall"] - before.server["wall"]
        server_cpu = after.server["cpu"] - before.server["cpu"]
        server_cores = server_cpu / server_wall
        kernel = after.server["kernel_cpu"] - before.server["kernel_cpu"]
        tracks = self.sessions * self.room_size * (self.room_size - 1) * len(self.kinds)
        live_cpu = (
            after.server["live_cpu"] - before.server["live_cpu"]
            if after.server.get("live_cpu") is not None
            else None
        )
        return PhaseResult(
            server=self.server,
            sessions=self.sessions,
            kinds="+".join(self.kinds),
            room_size=self.room_size,
            seconds=round(wall, 2),
            forwarded_tracks=tracks,
            server_cores=round(server_cores, 4),
            server_ms_per_track=round(1000 * server_cores / tracks, 3),
            server_kernel_share=round(kernel / server_cpu, 3) if server_cpu > 0 else 0.0,
            bots_cores=round((after.bots_cpu - before.bots_cpu) / wall, 4),
            video_sent=after.sent["video"] - before.sent["video"],
            video_received=after.received["video"] - before.received["video"],
            audio_sent=after.sent["audio"] - before.sent["audio"],
            audio_received=after.received["audio"] - before.received["audio"],
            setup_s=round(setup, 2),
            recorded=self.record,
            live=self.live,
            live_worker_cores=None if live_cpu is None else round(live_cpu / server_wall, 3),
            live_behind_s=after.server.get("live_behind"),
        )


def _can_pin() -> bool:
    """Two CPUs to give out: the server's and the bots'. Asked once, before pinning."""
    return hasattr(os, "sched_setaffinity") and {SERVER_CPU, BOTS_CPU} <= os.sched_getaffinity(0)


PIN = _can_pin()


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def report(results: list[PhaseResult]) -> str:
    rows = [
        "| server | sessions × people | media | server CPU (cores) | of it in the kernel "
        "| CPU ms/s per track | video delivered | audio delivered | bots CPU (cores) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        live = ", recorded" if r.recorded and not r.live else ""
        if r.live:
            live = (
                f", live transcription ({r.live_worker_cores:.3f} cores, "
                f"{r.live_behind_s:.0f} s behind)"
            )
        rows.append(
            f"| {r.server} | {r.sessions} × {r.room_size} | {r.kinds}{live} | {r.server_cores:.3f} "
            f"| {_share(r.server_kernel_share)} "
            f"| {r.server_ms_per_track:.2f} | {_share(r.video_delivered)} "
            f"| {_share(r.audio_delivered)} | {r.bots_cores:.3f} |"
        )
    sfu_videos = [r for r in results if r.server == "sfu" and r.kinds == "video"]
    relay_video = next((r for r in results if r.server == "relay" and r.kinds == "video"), None)
    if sfu_videos and relay_video:
        rows.append("")
        for sfu_video in sfu_videos:
            ratio = relay_video.server_ms_per_track / max(sfu_video.server_ms_per_track, 1e-9)
            where = (
                "in the same phase size"
                if sfu_video.sessions == relay_video.sessions
                else f"with the SFU at {sfu_video.sessions} sessions"
            )
            rows.append(
                f"Per forwarded video track the relay used {ratio:.1f}x the SFU's CPU {where} "
                f"({relay_video.server_ms_per_track:.2f} vs {sfu_video.server_ms_per_track:.2f} "
                "CPU ms per second)."
            )
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> list[PhaseResult]:
    # Encoded once, before measuring. Without temporal layers: the figures in
    # docs/benchmarks.md were measured on that stream (a gradient, about 96 kbit/s at
    # 640x480); the layered one the bots now publish is about 525 kbit/s, 3.6 times
    # the packets, and the SFU's cost is per packet.
    video = video_loop(size=args.video_size, fps=args.fps, temporal_layers=False)
    if args.live_transcription:
        return await _run_live(args, video)
    plan: list[tuple[str, int, tuple[str, ...], int]] = []
    if not args.capacity_only:
        plan += [
            ("sfu", args.compare_sessions, ("video",), 2),
            ("relay", args.compare_sessions, ("video",), 2),
            ("sfu", args.compare_sessions, ("audio", "video"), 2),
            ("relay", args.compare_sessions, ("audio", "video"), 2),
        ]
    if args.capacity_only or args.sessions != args.compare_sessions:
        plan.append(("sfu", args.sessions, ("audio", "video"), 2))
        if not args.capacity_only:
            # A busy SFU's cost per video track: at 4 sessions it mostly waits, and each
            # packet wakes it from idle at about twice the CPU it costs a busy one.
            plan.append(("sfu", args.sessions, ("video",), 2))
    if args.group > 2 and not args.capacity_only:
        plan.append(("sfu", 1, ("audio", "video"), args.group))
    results = []
    for n, (server, sessions, kinds, size) in enumerate(plan, 1):
        people = f" of {size}" if size != 2 else ""
        print(
            f"[{n}/{len(plan)}] {server}: {sessions} sessions{people}, {'+'.join(kinds)}, "
            f"{args.warmup:.0f} s warm-up + {args.seconds:.0f} s measured ...",
            file=sys.stderr,
            flush=True,
        )
        profile = None
        sfu_steps = [i for i, step in enumerate(plan) if step[0] == "sfu"]
        most = max(sfu_steps, key=lambda i: plan[i][1] * plan[i][3] * (plan[i][3] - 1))
        if args.profile is not None and n == most + 1:
            profile = args.profile  # the SFU phase with the most tracks forwarded
        result = await Phase(
            server, sessions, kinds, video, profile, size, args.loop, args.bots
        ).run(seconds=args.seconds, warmup=args.warmup, connect_timeout=args.connect_timeout)
        print(
            f"      server {result.server_cores:.3f} cores, "
            f"video {_share(result.video_delivered)}, audio {_share(result.audio_delivered)}",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


def speech_loop(cache: Path) -> EncodedLoop:
    """Lines a tutor says, with pauses, as Opus: what the live phases' bots publish."""
    from bench.speech import VOICES, say, to_ogg_opus
    from sfu.media_file import load_media_file

    ogg = cache / "forwarding-speech.opus.ogg"
    if not ogg.exists():
        import subprocess

        cache.mkdir(parents=True, exist_ok=True)
        pieces = []
        for n, line in enumerate(SPOKEN):
            wav = cache / f"forwarding-{n}.wav"
            say(line, wav, voice=VOICES["tutor"])
            padded = cache / f"forwarding-{n}-padded.wav"
            subprocess.run(["sox", str(wav), str(padded), "pad", "0", "1.5"], check=True)
            pieces.append(padded)
        joined = cache / "forwarding-speech.wav"
        subprocess.run(["sox", *map(str, pieces), str(joined)], check=True)
        # Renamed into place once whole: a run stopped halfway leaves no broken cache.
        to_ogg_opus(joined, cache / "forwarding-speech.partial.ogg").rename(ogg)
    [audio] = [loop for loop in load_media_file(ogg) if loop.kind == "audio"]
    return audio


SPOKEN = (
    "Good afternoon. Today we are going to practise adding fractions.",
    "First we make the bottom numbers the same.",
    "Then we add the top numbers and keep the bottom one.",
    "Let us try another example together on the board.",
)


async def _run_live(args: argparse.Namespace, video: EncodedLoop) -> list[PhaseResult]:
    audio = speech_loop(ROOT / "var" / "bench" / "speech")
    results = []
    plan = [
        (n, record, live)
        for n in dict.fromkeys((args.compare_sessions, args.sessions))
        for record, live in ((False, False), (True, False), (True, True))
    ]
    for step, (sessions, record, live) in enumerate(plan, 1):
        doing = "recorded, live transcription on" if live else "recorded" if record else "as is"
        print(
            f"[{step}/{len(plan)}] sfu: {sessions} sessions, audio (speech)+video, {doing}, "
            f"{args.warmup:.0f} s warm-up + {args.seconds:.0f} s measured ...",
            file=sys.stderr,
            flush=True,
        )
        result = await Phase(
            "sfu",
            sessions,
            ("audio", "video"),
            video,
            None,
            2,
            args.loop,
            args.bots,
            audio=audio,
            live=live,
            record=record,
        ).run(seconds=args.seconds, warmup=args.warmup, connect_timeout=args.connect_timeout)
        print(
            f"      server {result.server_cores:.3f} cores, video "
            f"{_share(result.video_delivered)}, audio {_share(result.audio_delivered)}"
            + (
                f", live workers {result.live_worker_cores:.3f} cores, "
                f"{result.live_behind_s:.1f} s behind"
                if live
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if min(size) < 16 or size[0] % 2 or size[1] % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even and >= 16")
    return size


def main() -> None:
    parser = argparse.ArgumentParser(
        description="SFU forwarding CPU beside a decode-and-re-encode relay."
    )
    parser.add_argument("--sessions", type=int, default=60, help="1:1 sessions for the SFU alone")
    parser.add_argument(
        "--compare-sessions", type=int, default=4, help="1:1 sessions for the side-by-side phases"
    )
    parser.add_argument(
        "--group",
        type=int,
        default=5,
        help="people in the one group session of the last phase (a tutor and students); "
        "2 or less leaves the phase out",
    )
    parser.add_argument(
        "--capacity-only",
        action="store_true",
        help="run only the SFU with --sessions 1:1 sessions (no relay, no group phase)",
    )
    parser.add_argument(
        "--bots",
        choices=("packets", "aiortc"),
        default="packets",
        help="packets: replay pre-packetized RTP and count packets (bench.packet_bot, cheap); "
        "aiortc: sfu.bot.BotPeer, aiortc's own send and receive paths",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the servers' event loop (default: uvloop, as 'liveclass serve' runs)",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--video-size", type=_size, default=(640, 480), metavar="WxH")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument(
        "--live-transcription",
        action="store_true",
        help="instead: speaking bots, the SFU with and without live transcription of every "
        "participant (--compare-sessions, then --sessions)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile the SFU over the last phase's window (cProfile) into this file; "
        "read it with python -m pstats FILE (the CPU figures then include the profiler)",
    )
    args = parser.parse_args()
    if args.sessions < 1 or args.compare_sessions < 1:
        parser.error("--sessions and --compare-sessions must be at least 1")
    if PIN:
        os.sched_setaffinity(0, {BOTS_CPU})
    else:
        print("only one CPU: server and bots share it; figures mix both", file=sys.stderr)
    ice.confine(["127.0.0.1"])
    # The bots run on uvloop too: their own loop's overhead is not what is measured.
    results = uvloop.run(run(args))
    print(report(results))
    if args.json:
        args.json.write_text(
            json.dumps(
                [asdict(r) | {"video_delivered": r.video_delivered} for r in results], indent=2
            )
        )


if __name__ == "__main__":
    main()
