"""Consent read the most protective way: below the consent age (or with no date of birth)
a guardian on file, and every one of them said yes; from it, the student's own yes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, update
from starlette.applications import Starlette

from scheduling.models import Guardianship, Student
from sessions.consent import ConsentRule, ai_consented, all_consented, may_record, transcribable
from tests.conftest import World

RULE = ConsentRule(age=13, today=date(2026, 12, 6))


@pytest.mark.parametrize(
    ("born", "decides"),
    [
        (None, False),  # unknown: the guardians decide
        (date(2013, 12, 6), True),  # 13 today
        (date(2013, 12, 7), False),  # 13 tomorrow
        (date(2000, 2, 29), True),
        (date(2026, 1, 1), False),
    ],
)
def test_a_student_decides_for_themselves_from_their_birthday_on(
    born: date | None, decides: bool
) -> None:
    assert RULE.decides_for_self(born) is decides


def test_the_consent_age_is_the_jurisdictions() -> None:
    """Sixteen (a GDPR country's choice): a fifteen-year-old's guardians still decide."""
    assert not ConsentRule(age=16, today=date(2026, 12, 6)).decides_for_self(date(2011, 1, 1))
    assert ConsentRule(age=16, today=date(2026, 12, 6)).decides_for_self(date(2010, 1, 1))


@pytest.mark.parametrize(
    ("consents", "consenting"),
    [
        ([("s1", True)], {"s1"}),
        ([("s1", False)], set()),
        ([("s1", True), ("s1", False)], set()),
        ([("s1", False), ("s1", True)], set()),
        ([("s1", True), ("s1", True), ("s2", False)], {"s1"}),
        ([], set()),  # nobody on file for either: no
    ],
)
def test_a_student_consents_only_when_every_guardian_on_file_did(
    consents: list[tuple[str, bool]], consenting: set[str]
) -> None:
    """One guardian's no, or no guardian at all, is a no for the student."""
    assert all_consented(consents, ["s1", "s2"]) == consenting


async def test_only_tutors_and_students_with_every_guardians_ai_consent_are_transcribed(
    app: Starlette, world: World
) -> None:
    """The tutor always; s1 once g1 consents; s1 no more without a guardian on file; a
    coordinator (neither tutor nor student) and an unknown id never."""
    users = world.users
    everyone = {users["t1"].id, users["s1"].id, users["s2"].id, users["coord"].id, "usr_x"}
    async with app.state.services.sessionmaker() as db, db.begin():
        assert await transcribable(db, everyone, RULE) == {users["t1"].id}
        assert not await ai_consented(db, world.ids["ses1"], RULE)
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids["g1"])
            .values(ai_processing_consent=True)
        )
        assert await transcribable(db, everyone, RULE) == {users["t1"].id, users["s1"].id}
        assert await ai_consented(db, world.ids["ses1"], RULE)
        await db.execute(delete(Guardianship).where(Guardianship.guardian_id == world.ids["g1"]))
        assert await transcribable(db, everyone, RULE) == {users["t1"].id}
        assert not await ai_consented(db, world.ids["ses1"], RULE)


async def test_of_age_the_students_own_consent_counts_and_their_guardians_no_longer(
    app: Starlette, world: World
) -> None:
    """s1 at 14: every guardian's yes is not enough without their own, and their own is
    enough without the guardians'. At 12 (a birthday two years later), the guardians
    decide again; an unknown date of birth is the same as under age."""
    s1, users = world.ids["s1"], world.users
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship).values(recording_consent=True, ai_processing_consent=True)
        )
        await db.execute(
            update(Student).where(Student.id == s1).values(date_of_birth=date(2012, 6, 1))
        )
        assert not await may_record(db, participant_id=users["s1"].id, rule=RULE)
        assert users["s1"].id not in await transcribable(db, {users["s1"].id}, RULE)
        await db.execute(update(Guardianship).values(recording_consent=False))
        await db.execute(update(Student).where(Student.id == s1).values(recording_consent=True))
        assert await may_record(db, participant_id=users["s1"].id, rule=RULE)
        await db.execute(
            update(Student).where(Student.id == s1).values(date_of_birth=date(2014, 6, 1))
        )
        assert not await may_record(db, participant_id=users["s1"].id, rule=RULE)
        assert users["s1"].id in await transcribable(db, {users["s1"].id}, RULE)
        await db.execute(update(Student).where(Student.id == s1).values(date_of_birth=None))
        assert users["s1"].id in await transcribable(db, {users["s1"].id}, RULE)
        assert not await may_record(db, participant_id=users["s1"].id, rule=RULE)
