"""The at-risk detector on generated histories: each planted pattern is raised once, with
its evidence, as the session that completes it is recorded; clean controls raise nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.applications import Starlette

from bench.at_risk import replay
from bench.histories import generate, write
from core.clock import FixedClock
from scheduling.models import LiveSession
from sessions.facts import rebuild_all
from sessions.models import SessionException, SessionExceptionKind

PLANTED = {
    "s0": "attendance_falling",
    "s1": "lateness_rising",
    "s2": "talk_share_falling",
    "s4": "repeated_difficulty",
    "s5": "homework_not_followed_up",
    "t1": "reviews_overdue",
    "t2": "late_starts",
}
RISKS = {SessionExceptionKind(k) for k in (*PLANTED.values(),)}


async def test_each_planted_pattern_is_raised_once_with_its_evidence(app: Starlette) -> None:
    """Seven patterns planted in five students and two tutors: seven exceptions, one
    each, about the right person, citing sessions from the planted stretch."""
    history = generate(seed=11, weeks=30, planted=PLANTED)
    raised = await replay(app.state.services.sessionmaker, history)
    got = sorted((x.kind.value, x.subject) for x in raised if x.kind in RISKS)
    assert got == sorted((kind, history.ids[key]) for key, kind in PLANTED.items())
    async with app.state.services.sessionmaker() as db:
        starts = {
            live.id: live.scheduled_start
            for live in await db.scalars(
                select(LiveSession).where(LiveSession.org_id == history.ids["org"])
            )
        }
    last = max(p.start for p in history.sessions)
    planted_from = last - timedelta(weeks=6)
    for x in raised:
        assert x.details["why"], x.details
        cited = x.details["sessions"]
        assert cited and [e["session_id"] for e in x.details["evidence"]] == cited
        assert all(starts[s] > planted_from for s in cited), (x.kind, x.details)
        # Raised on the session whose recording completed it: the newest it cites, or
        # for overdue reviews the tutor's next session.
        assert starts[x.session_id] >= max(starts[s] for s in cited)
        if x.kind is not SessionExceptionKind.REVIEWS_OVERDUE:
            assert x.session_id == max(cited, key=lambda s: starts[s])
    by_kind = {x.kind.value: x for x in raised}
    assert "missed" in by_kind["attendance_falling"].details["why"]
    assert "later each time" in by_kind["lateness_rising"].details["why"]
    assert "carrying over" in by_kind["repeated_difficulty"].details["why"]
    assert by_kind["late_starts"].details["tutor_id"] == history.ids["t2"]


async def test_clean_histories_raise_nothing(app: Starlette) -> None:
    """A year of ordinary noise (an absence here, a late start there, a forgotten
    follow-up) in three tutors and six students raises no at-risk exception."""
    history = generate(seed=5, weeks=52)
    raised = await replay(app.state.services.sessionmaker, history)
    assert [(x.kind.value, x.details["why"]) for x in raised if x.kind in RISKS] == []


async def test_drafts_left_unreviewed_are_raised_by_the_sweep_without_a_next_session(
    app: Starlette, clock: FixedClock
) -> None:
    """A tutor's last two drafts still wait three days later and no session follows:
    the sweep raises reviews_overdue once, citing them."""
    from sqlalchemy import update

    from sessions.models import DocumentStatus, SessionDocumentRecord
    from sessions.risk_detection import OverdueReviewSweep

    history = generate(seed=9, weeks=8, tutors=1, students_per_tutor=1)
    async with app.state.services.sessionmaker() as db, db.begin():
        await write(db, history, now=clock.now())
        documented = list(
            await db.scalars(
                select(SessionDocumentRecord)
                .join(LiveSession, LiveSession.id == SessionDocumentRecord.session_id)
                .where(LiveSession.org_id == history.ids["org"])
                .order_by(LiveSession.scheduled_start)
            )
        )
        waiting = [d.session_id for d in documented[-2:]]
        await db.execute(
            update(SessionDocumentRecord)
            .where(SessionDocumentRecord.session_id.in_(waiting))
            .values(status=DocumentStatus.DRAFT, approved_at=None, approved_by=None)
        )
        await rebuild_all(db, now=clock.now(), consent_age=13, org_id=history.ids["org"])
        last_draft = max(d.drafted_at for d in documented)
        sweep = OverdueReviewSweep()
        assert await sweep(db, last_draft + timedelta(hours=71)) == 0
        assert await sweep(db, last_draft + timedelta(hours=73)) == 1
        assert await sweep(db, last_draft + timedelta(hours=90)) == 0
        [raised] = list(
            await db.scalars(
                select(SessionException).where(
                    SessionException.kind == SessionExceptionKind.REVIEWS_OVERDUE
                )
            )
        )
    assert raised.subject == history.ids["t0"]
    assert raised.details["sessions"] == waiting
    assert raised.details["why"] == "2 of the last 5 drafts were not reviewed within 72 hours"
