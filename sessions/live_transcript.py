"""A session's live transcription: who may be transcribed, where the text is kept, who hears it.

The recorder (``sfu.recording``) asks its ``live`` source for each participant
it records; ``LiveTranscription.source(session_id)`` is that source. It opens a
live stream (``ai_docs.live``) only for a participant whose audio may be
transcribed (``sessions.consent.transcribable``: the tutor, and a student only
when every guardian consented to AI processing), stores each utterance's text as
it comes (``LiveSegmentRecord``) and hands it to ``on_caption`` for the room's
live captions. The transcription handler later builds the session's transcript
from the stored rows of every file heard in full.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ai_docs.live import LiveSegment, LiveStream, LiveTranscriber
from core.clock import Clock
from core.ids import new_id
from core.logging import get_logger
from sessions.consent import ConsentRule, transcribable
from sessions.models import LiveSegmentRecord

log = get_logger("liveclass.sessions.live_transcript")

# (session id, participant id, new segments): what the room's captions show.
CaptionSink = Callable[[str, str, Sequence[LiveSegment]], None]


class Feed:
    """A live stream as the recorder sees it (it fits ``sfu.recording.LiveFeed``).

    ``broken`` once a batch of its segments could not be stored: the stored
    transcript of its file would miss them, so ``finish`` then says the file was
    not heard in full, and it is transcribed afterwards.
    """

    def __init__(self, feed_id: str, stream: LiveStream | None = None) -> None:
        self.id = feed_id
        self.stream = stream
        self.broken = False

    def feed(self, frames: Sequence[tuple[int, bytes]]) -> None:
        if self.stream is not None:
            self.stream.feed(frames)

    async def finish(self) -> bool:
        if self.stream is None:
            return False
        result = await self.stream.finish()
        return result.complete and not self.broken


class LiveTranscription:
    """Opens live streams for a node's recorders and keeps what they hear.

    Args:
        transcriber: the node's worker processes.
        sessionmaker: where the segments are stored.
        clock: stamps each stored segment.
        on_caption: told each batch as it comes (the signaling server's captions).
    """

    def __init__(
        self,
        transcriber: LiveTranscriber,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        consent_age: int,
        on_caption: CaptionSink | None = None,
    ) -> None:
        self.transcriber = transcriber
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._consent_age = consent_age
        self.on_caption = on_caption

    def source(self, session_id: str) -> Callable[[str, str], Awaitable[Feed | None]]:
        """The recorder's ``live`` source for one session's room (``sfu.recording.LiveSource``)."""

        async def open_feed(participant_id: str, role: str) -> Feed | None:
            async with self._sessionmaker() as db:
                rule = ConsentRule(self._consent_age, self._clock.now().date())
                allowed = await transcribable(db, {participant_id}, rule)
            if participant_id not in allowed:
                log.info("not transcribed live: no AI consent", session=session_id)
                return None
            feed = Feed(new_id("lvs"))
            seq = itertools.count()

            async def keep(segments: list[LiveSegment]) -> None:
                if self.on_caption is not None:
                    self.on_caption(session_id, participant_id, segments)
                try:
                    async with self._sessionmaker() as db, db.begin():
                        now = self._clock.now()
                        for s in segments:
                            db.add(
                                LiveSegmentRecord(
                                    stream_id=feed.id,
                                    seq=next(seq),
                                    session_id=session_id,
                                    participant_id=participant_id,
                                    start=s.start,
                                    end=s.end,
                                    text=s.text,
                                    at=now,
                                )
                            )
                except Exception:
                    feed.broken = True
                    log.exception(
                        "live segments not stored; the file is transcribed later",
                        session=session_id,
                    )

            feed.stream = await self.transcriber.open(keep)
            return feed if feed.stream is not None else None

        return open_feed

    async def aclose(self) -> None:
        await self.transcriber.aclose()


async def live_segments(db: AsyncSession, stream_id: str) -> list[LiveSegmentRecord]:
    """One recorded file's live segments, in the order they were heard."""
    rows = await db.scalars(
        select(LiveSegmentRecord)
        .where(LiveSegmentRecord.stream_id == stream_id)
        .order_by(LiveSegmentRecord.seq)
    )
    return list(rows)
