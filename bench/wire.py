"""The benchmark's control channel: JSON lines over one loopback TCP connection.

The benchmark keeps the media server (our SFU, or the transcoding relay it is
compared with) in its own process so that process's CPU time is the server's
alone. Offers, answers and statistics travel over this channel instead of the
signaling WebSocket: signaling costs nothing once a call is up, and both servers
get exactly the same treatment.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Message = dict[str, Any]
# SDP with a few dozen candidates and m-lines stays far below this.
MAX_LINE = 1 << 20


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None when the other side closed the connection."""
    line = await reader.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict) or "op" not in message:
        raise ValueError(f"not a control message: {line[:80]!r}")
    return message


async def write_message(writer: asyncio.StreamWriter, message: Message) -> None:
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
