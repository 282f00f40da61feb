"""Stopping an owned task: cancel it and wait until its cleanup has run."""

from __future__ import annotations

import asyncio

from core.tasks import cancel_and_wait


async def test_the_task_has_exited_with_its_cleanup_done() -> None:
    cleaned: list[str] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append("done")

    task = asyncio.create_task(work())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.done() and cleaned == ["done"]
    await cancel_and_wait(task)  # already done: nothing happens
    await cancel_and_wait(None)
