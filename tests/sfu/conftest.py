"""Real aiortc peers on loopback, joined to an SFU room without signaling in between."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest

from sfu import ice
from sfu.bot import BotPeer
from sfu.peer import TrackInfo
from sfu.room import Room

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


async def eventually(check: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail with the waited time if it never does."""
    deadline = time.monotonic() + within * WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within * WAIT:.1f} s")
        await asyncio.sleep(0.05)


async def join(
    room: Room, participant_id: str, *, publish: bool = True, silent: bool = False
) -> BotPeer:
    """Connect a bot to the room the way signaling would, and wait for the first exchange."""
    bot = BotPeer(ice_servers=[], publish=publish, silent=silent)

    async def exchange(sdp: str, tracks: list[TrackInfo]) -> str:
        return await bot.answer_offer(sdp, tracks)

    peer = room.add_peer(participant_id, exchange)
    async with asyncio.timeout(10 * WAIT):
        await peer.connected.wait()
    room.test_bots.append(bot)  # type: ignore[attr-defined]
    return bot


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    ice.confine(["127.0.0.1"])
    r = Room("room_test", max_participants=4, ice_servers=[])
    r.test_bots = []  # type: ignore[attr-defined]
    yield r
    await r.aclose()
    for bot in r.test_bots:  # type: ignore[attr-defined]
        await bot.aclose()
    ice.confine([])
