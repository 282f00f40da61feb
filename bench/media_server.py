"""The server side of the forwarding benchmark, in a process of its own.

``python -m bench.media_server --mode sfu|relay [--cpu N]`` listens on a
loopback port, prints ``PORT <n>`` and serves one control connection (see
``bench.wire``): ``join`` adds a participant to a room (the server then sends
``offer`` messages and waits for ``answer``), ``stats`` reports this process's
CPU time and frame counters, ``profile`` starts cProfile (``{"path": null}``)
or stops it and writes its statistics to ``path``, ``quit`` ends it.

``sfu`` runs Liveclass's rooms (``sfu.room.Room``: encoded frames in, the same
out); ``relay`` runs ``bench.transcoding_relay`` (decode, fan out, re-encode).
With ``--record`` each SFU room records its audio (as a serving node does by
default); with ``--live-transcription`` it also transcribes it live, as a
serving node does (``ai_docs.live``: one worker process, which inherits this
process's CPU); ``stats`` then adds the workers' CPU time and how far behind
they are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ai_docs.live import LiveTranscriber
from bench.transcoding_relay import RelayRoom
from bench.wire import MAX_LINE, Message, read_message, write_message
from sessions.live_transcript import Feed
from sfu import ice
from sfu.peer import TrackInfo
from sfu.recording import Recorder
from sfu.room import Room


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MediaServer:
    def __init__(
        self,
        mode: str,
        writer: asyncio.StreamWriter,
        live: LiveTranscriber | None = None,
        *,
        record: bool = False,
    ) -> None:
        self.mode = mode
        self.live = live
        self.record = record or live is not None
        self._recordings = Path(tempfile.mkdtemp(prefix="liveclass-bench-rec-"))
        self._recorders: list[Recorder] = []
        self._writer = writer
        self._answers: dict[str, asyncio.Future[str]] = {}
        self.rooms: dict[str, Room] = {}
        self.relays: dict[str, RelayRoom] = {}

    def _exchange_for(self, pid: str) -> Any:
        async def exchange(sdp: str, tracks: list[TrackInfo]) -> str:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._answers[pid] = future
            await write_message(
                self._writer,
                {
                    "op": "offer",
                    "pid": pid,
                    "sdp": sdp,
                    "tracks": [
                        {
                            "mid": t.mid,
                            "kind": t.kind,
                            "participant_id": t.participant_id,
                            "publish": t.publish,
                        }
                        for t in tracks
                    ],
                },
            )
            return await future

        return exchange

    def join(self, room_id: str, pid: str, other: str, size: int = 2) -> None:
        if self.mode == "sfu":
            room = self.rooms.get(room_id)
            if room is None:
                room = self.rooms[room_id] = Room(
                    room_id, max_participants=size, ice_servers=[], recorder=self._recorder(room_id)
                )
            room.add_peer(pid, self._exchange_for(pid))
        else:
            if size != 2:
                raise ValueError("the relay pairs participants: sessions of two only")
            relay = self.relays.get(room_id)
            if relay is None:
                relay = self.relays[room_id] = RelayRoom(room_id)
            relay.add_peer(pid, other, self._exchange_for(pid))

    def _recorder(self, room_id: str) -> Recorder | None:
        live = self.live
        if not self.record:
            return None

        async def feed(participant_id: str, role: str) -> Feed | None:
            assert live is not None
            stream = await live.open()
            return Feed(f"{room_id}-{participant_id}", stream) if stream is not None else None

        recorder = Recorder(
            self._recordings / room_id,
            may_record=lambda _: True,
            live=feed if live is not None else None,
        )
        self._recorders.append(recorder)
        return recorder

    def answer(self, pid: str, sdp: str) -> None:
        future = self._answers.pop(pid, None)
        if future is not None and not future.done():
            future.set_result(sdp)

    def stats(self) -> Message:
        frames_in = frames_out = dropped = 0
        for room in self.rooms.values():
            for pubs in room.publications.values():
                for pub in pubs:
                    frames_in += pub.stats.frames_in
                    for sub in pub.subscribers:
                        frames_out += sub.stats.frames_out
                        dropped += sub.stats.frames_dropped
        for relay in self.relays.values():
            frames_out += relay.frames_out()
        return {
            "op": "stats",
            "cpu": time.process_time(),
            "kernel_cpu": os.times().system,
            "wall": time.monotonic(),
            "frames_in": frames_in,
            "frames_out": frames_out,
            "dropped": dropped,
            "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self") else 0,
            "live_cpu": sum(_cpu_seconds(p) for p in self.live.pids) if self.live else None,
            "live_behind": self.live.behind if self.live else None,
        }

    async def aclose(self) -> None:
        for room in self.rooms.values():
            await room.aclose()
        for relay in self.relays.values():
            await relay.aclose()
        for recorder in self._recorders:
            await recorder.aclose()
        if self.live is not None:
            await self.live.aclose()


async def serve(mode: str, live: bool = False, record: bool = False) -> None:
    done = asyncio.Event()
    profiler = cProfile.Profile()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transcriber = LiveTranscriber() if live else None
        if transcriber is not None and not await transcriber.start():
            raise SystemExit(f"live transcription cannot start: {transcriber.unavailable}")
        server = MediaServer(mode, writer, transcriber, record=record)
        try:
            while (message := await read_message(reader)) is not None:
                op = message["op"]
                if op == "join":
                    server.join(
                        message["room"], message["pid"], message["other"], message.get("size", 2)
                    )
                elif op == "answer":
                    server.answer(message["pid"], message["sdp"])
                elif op == "stats":
                    await write_message(writer, server.stats())
                elif op == "profile":
                    if message.get("path") is None:
                        profiler.enable()
                    else:
                        profiler.disable()
                        profiler.dump_stats(message["path"])
                elif op == "quit":
                    break
        finally:
            await server.aclose()
            writer.close()
            done.set()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_LINE)
    port = listener.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with listener:
        await done.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("sfu", "relay"), required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop; 'liveclass serve' runs on uvloop (uvicorn's choice when installed)",
    )
    parser.add_argument(
        "--live-transcription",
        action="store_true",
        help="record each SFU room's audio and transcribe it live (one worker process)",
    )
    parser.add_argument(
        "--record", action="store_true", help="record each SFU room's audio (no transcription)"
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ice.confine(["127.0.0.1"])
    with contextlib.suppress(KeyboardInterrupt):
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(serve(args.mode, args.live_transcription, args.record))
        else:
            asyncio.run(serve(args.mode, args.live_transcription, args.record))
    sys.exit(0)


if __name__ == "__main__":
    main()
