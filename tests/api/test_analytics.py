"""Analytics over REST: coordinators' trend pages, and CSV exports that match them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from api.auth import issue_access_token
from bench.histories import History, generate, write
from core.clock import FixedClock
from scheduling.models import Tutor, User
from sessions.facts import rebuild_all
from tests.conftest import World

BASE = "/api/v1/analytics"
RANGE = {"start": "2025-01-01", "end": "2025-03-31", "period": "week"}


@dataclass
class School:
    history: History
    coord: dict[str, str]
    tutor: dict[str, str]


async def _bearer(app: Starlette, clock: FixedClock, user_id: str) -> dict[str, str]:
    services = app.state.services
    async with services.sessionmaker() as db:
        user = await db.get(User, user_id)
        assert user is not None
        token, _ = issue_access_token(
            user, secret=services.secret, now=clock.now(), ttl_seconds=900
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def school(app: Starlette, clock: FixedClock) -> School:
    """Twelve weeks of sessions: three tutors, two students each."""
    history = generate(seed=3, weeks=12)
    async with app.state.services.sessionmaker() as db, db.begin():
        await write(db, history, now=clock.now())
        await rebuild_all(db, now=clock.now(), consent_age=13)
        tutor_user = await db.scalar(select(Tutor.user_id).where(Tutor.id == history.ids["t0"]))
    assert tutor_user is not None
    return School(
        history,
        coord=await _bearer(app, clock, history.ids["coord"]),
        tutor=await _bearer(app, clock, tutor_user),
    )


@pytest.mark.parametrize("dimension", ["students", "tutors", "subjects"])
async def test_csv_export_holds_the_rows_of_every_page(
    client: httpx.AsyncClient, school: School, dimension: str
) -> None:
    """Paging through the JSON and downloading the CSV give the same rows, in order."""
    pages: list[dict[str, object]] = []
    total = None
    while total is None or len(pages) < total:
        r = await client.get(
            f"{BASE}/{dimension}",
            params={**RANGE, "limit": 7, "offset": len(pages)},
            headers=school.coord,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        total = body["total"]
        assert body["items"], "a page came back empty before the total was reached"
        pages.extend(body["items"])
    assert total > 7
    r = await client.get(f"{BASE}/{dimension}.csv", params=RANGE, headers=school.coord)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    header, rows = table[0], table[1:]
    metrics = (await client.get(f"{BASE}/metrics", headers=school.coord)).json()
    names = list(metrics[dimension.rstrip("s")])
    assert header == [dimension.rstrip("s"), "name", "period_start", *names]
    expected = [
        [
            item["key"],
            item["name"],
            item["period_start"],
            *("" if item["figures"][n] is None else str(item["figures"][n]) for n in names),
        ]
        for item in pages
    ]
    assert rows == expected


async def test_student_rows_say_what_happened_in_each_week(
    client: httpx.AsyncClient, school: School
) -> None:
    """One student's first week: booked once, how late, and the checks their document made."""
    h = school.history
    first = next(p for p in h.sessions if p.student == "s0")
    r = await client.get(
        f"{BASE}/students",
        params={**RANGE, "student_id": h.ids["s0"], "limit": 1},
        headers=school.coord,
    )
    assert r.status_code == 200, r.text
    [row] = r.json()["items"]
    assert row["key"] == h.ids["s0"] and row["name"] == "Student s0"
    assert row["period_start"] == "2025-01-06"
    figures = row["figures"]
    assert figures["sessions"] == 1
    assert figures["attended"] == int(first.student_present)
    if first.documented:
        assert figures["checks"] == len(first.checks)


async def test_only_coordinators_of_the_organisation_see_its_figures(
    client: httpx.AsyncClient, school: School, world: World
) -> None:
    """A tutor is refused; another organisation's coordinator sees none of these rows."""
    r = await client.get(f"{BASE}/students", params=RANGE, headers=school.tutor)
    assert r.status_code == 403
    r = await client.get(f"{BASE}/students.csv", params=RANGE, headers=school.tutor)
    assert r.status_code == 403
    r = await client.get(f"{BASE}/students", params=RANGE, headers=world.as_("coord"))
    assert r.status_code == 200 and r.json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "2025-01-01", "end": "2026-03-01"}, "end"),
        ({"start": "2025-01-01", "end": "2025-02-01", "period": "day"}, "period"),
        ({"end": "2025-02-01"}, "start"),
    ],
)
async def test_bad_ranges_are_refused_with_the_field_named(
    client: httpx.AsyncClient, school: School, params: dict[str, str], field: str
) -> None:
    """An empty or over-long range, an unknown period or a missing start is a 422 naming it."""
    for path in ("students", "tutors.csv"):
        r = await client.get(f"{BASE}/{path}", params=params, headers=school.coord)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert any(d["loc"][-1] == field for d in error["details"]), error
