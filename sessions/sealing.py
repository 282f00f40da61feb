"""Key rotation for what sessions keep sealed at rest: recordings and transcript text.

``liveclass keys rotate`` runs these after a new key was put first in
``LIVECLASS_ENCRYPTION_KEYS`` (the old ones kept after it): every recording and
every transcript line (after the lesson and live) not yet under the current key
is opened with its own key and sealed again under the current one; what was
stored before keys were set is sealed for the first time. Re-running is safe:
what is under the current key already is left alone. After it, the old keys can
go. See docs/privacy.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Table, Text, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.sealing import KeyRing, SealError, open_text, process_keys, reseal_file, text_key
from sessions.models import LiveSegmentRecord, TranscriptSegment

__all__ = ["reseal_recordings", "reseal_transcripts"]

BATCH = 500
Progress = Callable[[int, int], None]


def reseal_recordings(recordings_dir: Path, keys: KeyRing, progress: Progress | None = None) -> int:
    """Seal every recording under ``recordings_dir`` with the current key, in place; how
    many files changed. Blocking (file I/O): run it in a thread from async code.

    Raises:
        SealError: no current key, or a file sealed under a key the ring lacks.
    """
    keys.sealing()  # no current key: say so before touching anything
    files = sorted(
        p for p in recordings_dir.rglob("*") if p.is_file() and not p.name.startswith(".")
    )
    changed = 0
    for n, path in enumerate(files, start=1):
        changed += reseal_file(path, keys)
        if progress is not None:
            progress(n, len(files))
    return changed


async def reseal_transcripts(
    db: AsyncSession, keys: KeyRing, progress: Progress | None = None
) -> int:
    """Seal every stored transcript and live-transcript line with the current key (the
    columns seal on write with the process's keys: ``core.database.SealedText``); how
    many lines changed. The caller commits.

    Raises:
        SealError: no current key, or a line sealed under a key the ring lacks.
    """
    current, _ = keys.sealing()
    if process_keys().current != current:  # the columns seal with the process's keys
        raise SealError("the database's engine was made with other keys than these")
    tables: list[tuple[Table, tuple[str, ...]]] = [
        (TranscriptSegment.__table__, ("session_id", "index")),  # type: ignore[list-item]
        (LiveSegmentRecord.__table__, ("stream_id", "seq")),  # type: ignore[list-item]
    ]
    stale: list[tuple[Table, tuple[str, ...], tuple[object, ...], str]] = []
    for table, keys_of in tables:
        raw = type_coerce(table.c.text, Text)  # as stored: not opened by the column type
        rows = await db.execute(select(*(table.c[k] for k in keys_of), raw))
        for row in rows:
            if text_key(row[-1]) != current:
                stale.append((table, keys_of, tuple(row[:-1]), row[-1]))
    for n, (table, keys_of, row_ids, value) in enumerate(stale, start=1):
        try:
            plain = open_text(value, keys)
        except SealError as exc:
            raise SealError(f"{table.name} {row_ids}: {exc.message}") from exc
        where = [table.c[k] == v for k, v in zip(keys_of, row_ids, strict=True)]
        await db.execute(update(table).where(*where).values(text=plain))
        if n % BATCH == 0:
            await db.flush()
        if progress is not None:
            progress(n, len(stale))
    await db.flush()
    return len(stale)
