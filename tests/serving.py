"""An app served on a free loopback port, for tests that talk to it over the network."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import uvicorn
from starlette.applications import Starlette

from api.web_server import uvicorn_options
from sfu import ice

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@asynccontextmanager
async def serving(
    app: Starlette, *, lifespan: Literal["on", "off"] = "on"
) -> AsyncIterator[uvicorn.Server]:
    """Serve ``app`` on 127.0.0.1 at a free port (``port_of``) until the block ends.

    Afterwards ICE is no longer confined: the app's startup confines it to its
    ``LIVECLASS_ICE_ADDRESSES`` process-wide, and the next test starts afresh.
    """
    services = getattr(app.state, "services", None)
    options = uvicorn_options(services.settings) if services is not None else {"log_config": None}
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan=lifespan, **options)
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10 * WAIT):
            while not server.started:
                await asyncio.sleep(0.02)
        yield server
    finally:
        server.should_exit = True
        async with asyncio.timeout(10 * WAIT):
            await task
        ice.confine([])


def port_of(server: uvicorn.Server) -> int:
    return int(server.servers[0].sockets[0].getsockname()[1])


@asynccontextmanager
async def serving_rtc(app: Starlette) -> AsyncIterator[str]:
    """``serving``, yielding the signaling WebSocket's URL."""
    async with serving(app) as server:
        yield f"ws://127.0.0.1:{port_of(server)}/rtc"
