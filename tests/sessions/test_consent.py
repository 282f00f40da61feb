"""Consent read the most protective way: a guardian on file, and every one of them said yes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from starlette.applications import Starlette

from scheduling.models import Guardianship
from sessions.consent import ai_consented, all_consented, transcribable
from tests.conftest import World


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
        assert await transcribable(db, everyone) == {users["t1"].id}
        assert not await ai_consented(db, world.ids["ses1"])
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids["g1"])
            .values(ai_processing_consent=True)
        )
        assert await transcribable(db, everyone) == {users["t1"].id, users["s1"].id}
        assert await ai_consented(db, world.ids["ses1"])
        await db.execute(delete(Guardianship).where(Guardianship.guardian_id == world.ids["g1"]))
        assert await transcribable(db, everyone) == {users["t1"].id}
        assert not await ai_consented(db, world.ids["ses1"])
