"""Recordings and transcripts sealed at rest, transcribed, exported and rotated to a new key.

A server with ``LIVECLASS_ENCRYPTION_KEYS`` set, on SQLite and PostgreSQL: the
lesson's recordings are sealed files (as the recorder writes them), the
transcription handler opens them in memory, the transcript's lines are ciphertext
in the database and plain text through the API, the student's export holds
playable audio, and ``liveclass keys rotate`` (the real command) moves everything
to a new key, after which the old key is not needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Text, select, type_coerce, update
from starlette.applications import Starlette

from api.settings import Settings
from bench.speech import SpeechTrack
from core.sealing import (
    KeyRing,
    SealedWriter,
    generate_key,
    is_sealed,
    open_file,
    text_key,
    use_keys,
)
from scheduling.models import Guardianship
from sessions.models import PresenceType, TranscriptSegment
from tests.api.test_cli import LIVECLASS
from tests.conftest import World
from tests.sessions.test_attendance import book_pair, presence
from tests.sessions.test_documentation import TUTOR, recording_ready, run
from tests.sessions.test_documentation import speech as speech  # noqa: F401  (the fixture)

K1, K2 = f"k1:{generate_key()}", f"k2:{generate_key()}"
WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with one key set."""
    return settings.model_copy(update={"encryption_keys": SecretStr(K1)})


@pytest.fixture(autouse=True)
def no_keys_after() -> Iterator[None]:
    """The column type's keys are the process's: the next test starts without these."""
    yield
    use_keys(KeyRing.parse(None))


def _seal_into(folder: Path, track: SpeechTrack, user_id: str) -> SpeechTrack:
    """The track as the recorder would have left it with keys set: a sealed file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{user_id}.opus.ogg"
    with path.open("xb") as raw:
        writer = SealedWriter(raw, KeyRing.parse(K1))
        writer.write(track.path.read_bytes())
        writer.close()
    return dataclasses.replace(track, path=path)


async def _stored_keys(app: Starlette) -> set[str | None]:
    async with app.state.services.sessionmaker() as db:
        raw = type_coerce(TranscriptSegment.text, Text)
        return {text_key(v) for v in await db.scalars(select(raw))}


async def test_a_sealed_lesson_is_transcribed_exported_and_rotated_to_a_new_key(
    app: Starlette,
    world: World,
    client: httpx.AsyncClient,
    settings: Settings,
    speech: list[SpeechTrack],  # noqa: F811
) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(Guardianship).values(ai_processing_consent=True))
    ses = await book_pair(app, world)
    await presence(app, world, ses, "t1", PresenceType.JOINED, 0)
    await presence(app, world, ses, "s1", PresenceType.JOINED, 1)
    folder = settings.recordings_dir / ses
    sealed = [
        _seal_into(folder, track, world.users[who].id)
        for track, who in zip(speech, ("t1", "s1"), strict=True)
    ]
    assert all(is_sealed(t.path) for t in sealed)
    await recording_ready(app, world, ses, sealed)
    await run(app)

    r = await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))
    assert r.status_code == 200 and r.json()["state"] == "ready", r.text
    segments = r.json()["segments"]
    assert any("fractions" in s["text"] for s in segments if s["speaker"] == TUTOR), segments
    assert await _stored_keys(app) == {"k1"}  # every line is ciphertext in the database

    r = await client.get(f"/api/v1/students/{world.ids['s1']}/export", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    [recording] = [n for n in archive.namelist() if n.startswith("recordings/")]
    assert archive.read(recording) == speech[1].path.read_bytes()  # playable, as recorded
    exported = archive.read("transcripts.json").decode()
    assert "lcs1:" not in exported and "sense" in exported

    # Rotation: k2 first, k1 after it; the real command, as an operator runs it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
    env |= {
        "LIVECLASS_DATA_DIR": str(settings.data_dir),
        "LIVECLASS_DATABASE_URL": settings.resolved_database_url,
        "LIVECLASS_ENCRYPTION_KEYS": f"{K2},{K1}",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [LIVECLASS, "keys", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120 * WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert "sealed 2 recordings" in done.stdout and "under key 'k2'" in done.stdout
    assert "100%" in done.stderr  # the progress bar
    assert await _stored_keys(app) == {"k2"}
    only_k2 = KeyRing.parse(K2)
    for track, original in zip(sealed, speech, strict=True):
        assert open_file(track.path, only_k2) == original.path.read_bytes()
    use_keys(only_k2)  # the old key dropped: the transcript still reads
    r = await client.get(f"/api/v1/sessions/{ses}/transcript", headers=world.as_("t1"))
    assert [s["text"] for s in r.json()["segments"]] == [s["text"] for s in segments]

    again = await asyncio.to_thread(
        subprocess.run,
        [LIVECLASS, "keys", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120 * WAIT,
    )
    assert "sealed 0 recordings and 0 transcript lines" in again.stdout, again.stdout


def test_rotate_without_keys_says_how_to_set_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
    env["LIVECLASS_DATA_DIR"] = str(tmp_path / "var")
    done = subprocess.run(
        [LIVECLASS, "keys", "rotate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LIVECLASS_ENCRYPTION_KEYS is not set" in done.stderr
    made = subprocess.run(
        [LIVECLASS, "keys", "generate", "--id", "spring"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.stdout.startswith("spring:")
    assert KeyRing.parse(made.stdout.strip()).current == "spring"
