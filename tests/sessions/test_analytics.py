"""Trends over a generated year: the analytics say what the plan says, on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from starlette.applications import Starlette

from bench.histories import History, generate, planned_trends, write
from core.clock import FixedClock
from sessions.analytics import Dimension, Period, TrendQuery, trends
from sessions.facts import rebuild_all


@pytest.fixture
async def year(app: Starlette, clock: FixedClock) -> History:
    """A year of weekly sessions: three tutors, two students each, one without consent."""
    history = generate(seed=7, weeks=52)
    async with app.state.services.sessionmaker() as db, db.begin():
        await write(db, history, now=clock.now())
        await rebuild_all(db, now=clock.now(), consent_age=13, org_id=history.ids["org"])
    return history


class Window:
    def __init__(self, limit: int, offset: int) -> None:
        self.limit, self.offset = limit, offset


async def test_student_trends_match_the_plan_month_by_month(app: Starlette, year: History) -> None:
    """Every student's monthly attendance, lateness, talk share, questions, checks and
    homework follow-up are what the generated year planted, to four decimals."""
    start, end = date(2025, 1, 1), date(2025, 12, 31)
    async with app.state.services.sessionmaker() as db:
        rows, total = await trends(
            db,
            TrendQuery(org_id=year.ids["org"], dimension=Dimension.STUDENT, start=start, end=end),
        )
    expected = planned_trends(year, start=start, end=end)
    assert total == len(rows) == len(expected) == 6 * 12
    got = {(r.key, r.period_start): r.figures for r in rows}
    differ = {
        key: {n: (v, expected[key][n]) for n, v in figures.items() if v != expected[key][n]}
        for key, figures in got.items()
        if figures != expected.get(key)
    }
    assert differ == {}
    # The student without consent has attendance but no talk figures.
    quiet = year.ids["s3"]
    assert all(f["mean_talk_share"] is None for (k, _), f in got.items() if k == quiet)
    assert all(f["attended"] for (k, _), f in got.items() if k == quiet)


async def test_weekly_trends_page_through_the_same_rows_in_order(
    app: Starlette, year: History
) -> None:
    """Pages of weekly rows, put together, are the unpaged answer in the same order."""
    start, end = date(2025, 3, 1), date(2025, 5, 31)
    query = TrendQuery(
        org_id=year.ids["org"],
        dimension=Dimension.STUDENT,
        start=start,
        end=end,
        period=Period.WEEK,
    )
    async with app.state.services.sessionmaker() as db:
        everything, total = await trends(db, query)
        paged = []
        for offset in range(0, total, 25):
            page, page_total = await trends(db, query, page=Window(25, offset))
            assert page_total == total
            paged.extend(page)
    assert paged == everything
    expected = planned_trends(year, start=start, end=end, monthly=False)
    assert {(r.key, r.period_start): r.figures for r in everything} == expected
    assert [(r.name, r.key, r.period_start) for r in everything] == sorted(
        (r.name, r.key, r.period_start) for r in everything
    )


async def test_tutor_and_subject_trends_count_sessions_late_starts_and_reviews(
    app: Starlette, year: History
) -> None:
    """Per tutor and per subject, the year's sessions, late starts, approvals and homework
    add up to the plan's."""
    start, end = date(2025, 1, 1), date(2025, 12, 31)
    org = year.ids["org"]
    async with app.state.services.sessionmaker() as db:
        tutors, _ = await trends(
            db, TrendQuery(org_id=org, dimension=Dimension.TUTOR, start=start, end=end)
        )
        subjects, _ = await trends(
            db, TrendQuery(org_id=org, dimension=Dimension.SUBJECT, start=start, end=end)
        )
    for tutor, subject in year.tutors.items():
        plans = [p for p in year.sessions if p.tutor == tutor and start <= p.start.date() <= end]
        mine = [r for r in tutors if r.key == year.ids[tutor]]
        total = {
            name: sum(int(r.figures[name] or 0) for r in mine)
            for name in ("sessions", "late_starts", "documented", "approved", "homework_set")
        }
        assert total == {
            "sessions": len(plans),
            "late_starts": sum(p.tutor_late >= 5 for p in plans),
            "documented": sum(p.documented for p in plans),
            "approved": sum(p.documented and p.review_hours is not None for p in plans),
            "homework_set": sum(p.documented and p.homework is not None for p in plans),
        }
        topics = sum(int(r.figures["topics"] or 0) for r in subjects if r.key == subject)
        assert topics == sum(p.documented for p in plans)


async def test_subject_rows_come_by_subject_then_period(app: Starlette, year: History) -> None:
    """Like every trend, subjects are ordered by name, then period."""
    async with app.state.services.sessionmaker() as db:
        rows, _ = await trends(
            db,
            TrendQuery(
                org_id=year.ids["org"],
                dimension=Dimension.SUBJECT,
                start=date(2025, 1, 1),
                end=date(2025, 6, 30),
            ),
        )
    order = [(r.name, r.period_start) for r in rows]
    assert order == sorted(order) and len(order) == 3 * 6
