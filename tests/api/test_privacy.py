"""Export and erasure of a student, with real files on disk, on SQLite and PostgreSQL.

s1 has a lesson alone with t1 (ses1) and a group lesson with s2 and t2 (ses2).
Each has recordings on disk, transcript segments, chat, presence, attendance and
a drafted document; a summary email about s1 was sent to g1 (its .eml on disk).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from notifications.models import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from scheduling.models import Guardianship, SessionStudent, Student, User
from sessions.models import (
    Attendance,
    ChatLine,
    Presence,
    PresenceType,
    SessionDocumentRecord,
    TranscriptSegment,
)
from tests.conftest import NOW, World

DOC = {"parent_summary": "Person s1 and Person s2 factorised quadratics.", "topics": ["algebra"]}


def _recording(app: Starlette, session_id: str, user_id: str) -> Path:
    folder: Path = app.state.services.settings.recordings_dir / session_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{user_id}.opus.ogg"
    path.write_bytes(b"OggS" + user_id.encode() * 50)
    return path


async def _lessons(app: Starlette, world: World) -> dict[str, Any]:
    """The two lessons' records and files; returns the files and ids the tests check."""
    s1, s2 = world.users["s1"].id, world.users["s2"].id
    t1, t2 = world.users["t1"].id, world.users["t2"].id
    ses1, ses2 = world.ids["ses1"], world.ids["ses2"]
    files = {
        "s1_alone": _recording(app, ses1, s1),
        "t1_alone": _recording(app, ses1, t1),
        "s1_group": _recording(app, ses2, s1),
        "s2_group": _recording(app, ses2, s2),
        "t2_group": _recording(app, ses2, t2),
    }
    outbox: Path = app.state.services.settings.data_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    files["email"] = outbox / "dlv_s1summary.eml"
    files["email"].write_text("Subject: Person s1's lesson\n\nPerson s1 factorised.")
    async with app.state.services.sessionmaker() as db, db.begin():
        db.add(SessionStudent(session_id=ses2, student_id=world.ids["s1"]))
        for session_id, speakers in ((ses1, (t1, s1)), (ses2, (t2, s1, s2))):
            for index, who in enumerate(speakers):
                db.add(
                    TranscriptSegment(
                        session_id=session_id,
                        index=index,
                        start=index * 3.0,
                        end=index * 3.0 + 2,
                        participant_id=who,
                        speaker=who,
                        role="tutor" if who in (t1, t2) else "student",
                        text=f"words of {who}",
                    )
                )
                db.add(
                    ChatLine(
                        id=f"cht_{session_id[-6:]}{index}",
                        session_id=session_id,
                        participant_id=who,
                        name=who,
                        role="student",
                        text=f"chat of {who}",
                        at=NOW,
                    )
                )
                db.add(
                    Presence(
                        session_id=session_id,
                        participant_id=who,
                        role="student",
                        type=PresenceType.JOINED,
                        at=NOW,
                    )
                )
                db.add(
                    Attendance(
                        session_id=session_id,
                        participant_id=who,
                        role="student",
                        student_id=None,
                        intervals=[],
                        seconds_present=3000,
                        absent=False,
                        computed_at=NOW,
                    )
                )
            db.add(
                SessionDocumentRecord(
                    id=f"doc_{session_id[-8:]}",
                    session_id=session_id,
                    content=DOC,
                    drafted_by="offline",
                    drafted_at=NOW,
                )
            )
        db.add(
            Delivery(
                id="dlv_s1summary",
                key="session_summary:evt1:g1",
                org_id=world.ids["orgA"],
                guardian_id=world.ids["g1"],
                recipient_role=RecipientRole.GUARDIAN,
                student_id=world.ids["s1"],
                session_id=ses1,
                kind=DeliveryKind.SESSION_SUMMARY,
                to_address="g1@schoola.example.org",
                subject="Person s1's lesson",
                text_body="Person s1 factorised.",
                message_id="<m1@liveclass>",
                status=DeliveryStatus.SENT,
                attempts=1,
                created_at=NOW,
                sent_at=NOW,
            )
        )
    return {"files": files, "s1": s1, "s2": s2}


async def test_an_export_opens_and_holds_each_kind(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """The zip holds one JSON file per kind with s1's rows, and s1's recordings."""
    held = await _lessons(app, world)
    r = await client.get(f"/api/v1/students/{world.ids['s1']}/export", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(archive.namelist())
    kinds = {
        "student",
        "guardianships",
        "sessions",
        "attendance",
        "transcripts",
        "chat",
        "documents",
        "briefings",
        "progress_reports",
        "analytics",
        "emails",
        "audit",
    }
    assert {f"{k}.json" for k in kinds} <= names
    load = lambda kind: json.loads(archive.read(f"{kind}.json"))  # noqa: E731
    assert load("student")[0]["email"] == world.users["s1"].email
    assert "password_hash" not in load("student")[0]
    assert load("guardianships")[0]["recording_consent"] is not None
    assert {s["text"] for s in load("transcripts")} == {f"words of {held['s1']}"}
    assert {s["id"] for s in load("sessions")} == {world.ids["ses1"], world.ids["ses2"]}
    assert load("emails")[0]["subject"] == "Person s1's lesson"
    recordings = sorted(n for n in names if n.startswith("recordings/"))
    assert recordings == sorted(
        f"recordings/{world.ids[s]}/{held['s1']}.opus.ogg" for s in ("ses1", "ses2")
    )
    assert archive.read(recordings[0]) == held["files"]["s1_alone"].read_bytes()
    # The export is in the audit log.
    log = await client.get("/api/v1/audit", params={"action": "export"}, headers=world.as_("coord"))
    assert [e["student_id"] for e in log.json()["items"]] == [world.ids["s1"]]


async def _count(app: Starlette, model: Any, *where: Any) -> int:
    async with app.state.services.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_an_erased_student_is_gone_from_disk_and_database_and_the_group_keeps_its_part(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    held = await _lessons(app, world)
    s1, s2, student = held["s1"], held["s2"], world.ids["s1"]
    files = held["files"]
    refused = await client.post(
        f"/api/v1/students/{student}/erase", json={"confirm": True}, headers=world.as_("t1")
    )
    assert refused.status_code in (403, 404)
    assert files["s1_alone"].exists()

    r = await client.post(
        f"/api/v1/students/{student}/erase", json={"confirm": True}, headers=world.as_("coord")
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["files"] == 4  # s1's two recordings, t1's in the lesson alone, the .eml
    assert len(report["already_sent"]) == 1 and "session_summary" in report["already_sent"][0]
    # Files: s1's and the whole of the lesson alone are gone; the group's others stay.
    for key in ("s1_alone", "t1_alone", "s1_group", "email"):
        assert not files[key].exists(), key
    for key in ("s2_group", "t2_group"):
        assert files[key].exists(), key
    # Rows: nothing of s1's; the group's other student keeps theirs.
    assert await _count(app, Student, Student.id == student) == 0
    assert await _count(app, User, User.id == s1) == 0
    assert await _count(app, Guardianship, Guardianship.student_id == student) == 0
    assert await _count(app, SessionStudent, SessionStudent.student_id == student) == 0
    assert await _count(app, TranscriptSegment, TranscriptSegment.participant_id == s1) == 0
    assert await _count(app, ChatLine, ChatLine.participant_id == s1) == 0
    assert await _count(app, Delivery, Delivery.student_id == student) == 0
    assert (
        await _count(app, TranscriptSegment, TranscriptSegment.session_id == world.ids["ses1"]) == 0
    )
    assert await _count(app, TranscriptSegment, TranscriptSegment.participant_id == s2) == 1
    # Attendance keeps its figures, under an id that is not s1's.
    assert await _count(app, Attendance, Attendance.participant_id == s1) == 0
    assert await _count(app, Presence, Presence.participant_id == s1) == 0
    assert await _count(app, Attendance, Attendance.participant_id.like("anon_%")) == 2
    # The group's document no longer names s1, and still names s2.
    async with app.state.services.sessionmaker() as db:
        group = await db.scalar(
            select(SessionDocumentRecord).where(
                SessionDocumentRecord.session_id == world.ids["ses2"]
            )
        )
        alone = await db.scalar(
            select(SessionDocumentRecord).where(
                SessionDocumentRecord.session_id == world.ids["ses1"]
            )
        )
    assert alone is None
    assert group is not None and "Person s1" not in json.dumps(group.content)
    assert "Person s2" in json.dumps(group.content)
    # The erasure is in the audit log; the student can no longer be read.
    log = await client.get("/api/v1/audit", params={"action": "erase"}, headers=world.as_("coord"))
    assert [e["student_id"] for e in log.json()["items"]] == [student]
    gone = await client.get(f"/api/v1/students/{student}", headers=world.as_("coord"))
    assert gone.status_code == 404


async def test_erasure_needs_a_confirmation_and_an_admin_key(
    client: httpx.AsyncClient, world: World
) -> None:
    path = f"/api/v1/students/{world.ids['s1']}/erase"
    assert (await client.post(path, json={}, headers=world.as_("coord"))).status_code == 422
    created = await client.post(
        "/api/v1/api-keys",
        json={"name": "sync", "scopes": ["read", "write", "personal_data"]},
        headers=world.as_("coord"),
    )
    key = {"X-API-Key": created.json()["key"]}
    r = await client.post(path, json={"confirm": True}, headers=key)
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]


async def test_a_guardian_is_exported_then_erased_and_what_they_withheld_stays_withheld(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """g1 (who gave s1 no consent) and g3 (who gave both) look after s1. g1's zip holds
    their profile, link and email; erasing g1 removes them, the email and its .eml, and
    s1 does not become recordable: g3's consents are turned off until given again."""
    held = await _lessons(app, world)
    coord = world.as_("coord")
    r = await client.post(
        "/api/v1/guardians",
        json={
            "email": "g3@schoola.example.org",
            "display_name": "Person g3",
            "students": [
                {
                    "student_id": world.ids["s1"],
                    "recording_consent": True,
                    "ai_processing_consent": True,
                }
            ],
        },
        headers=coord,
    )
    assert r.status_code == 201, r.text
    g1 = world.ids["g1"]
    r = await client.get(f"/api/v1/guardians/{g1}/export", headers=coord)
    assert r.status_code == 200, r.text
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert {"guardian.json", "guardianships.json", "emails.json", "audit.json"} <= set(
        archive.namelist()
    )
    assert json.loads(archive.read("guardian.json"))[0]["email"] == world.users["g1"].email
    assert [e["id"] for e in json.loads(archive.read("emails.json"))] == ["dlv_s1summary"]

    r = await client.post(f"/api/v1/guardians/{g1}/erase", json={"confirm": True}, headers=coord)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["rows"]["guardians"] == 1 and report["rows"]["users"] == 1
    assert report["files"] == 1 and len(report["already_sent"]) == 1
    assert any("recording consent" in line for line in report["kept"])
    assert not held["files"]["email"].exists()
    assert await _count(app, User, User.id == world.users["g1"].id) == 0
    assert await _count(app, Delivery, Delivery.guardian_id == g1) == 0
    async with app.state.services.sessionmaker() as db:
        left = list(
            await db.scalars(select(Guardianship).where(Guardianship.student_id == world.ids["s1"]))
        )
    assert [(g.recording_consent, g.ai_processing_consent) for g in left] == [(False, False)]
    log = await client.get("/api/v1/audit", params={"action": "erase"}, headers=coord)
    assert [e["resource_id"] for e in log.json()["items"]] == [g1]
