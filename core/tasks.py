"""Stopping the tasks an object owns: cancel, then wait until the task has really exited.

Every task has an owner whose ``aclose()`` stops it (STYLE.md). Cancelling
alone returns before the task has run its ``finally`` blocks; waiting for it
without swallowing its ``CancelledError`` would end the owner's close too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (None or already done: nothing to do) and wait for it to exit."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
