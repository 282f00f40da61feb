"""The ``liveclass`` command: serve, worker, migrate, demo, create-user, bot, transcribe.

Each command reads the same settings as the server (``LIVECLASS_*`` and
``.env``); options given here override them for that run.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from api.settings import Settings
from core.clock import SystemClock
from core.database import create_engine, create_sessionmaker
from core.errors import LiveclassError
from core.logging import configure_logging
from core.settings import ConfigurationError, resolve_secret_key

if TYPE_CHECKING:
    from sfu.synthetic import EncodedLoop


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise CliError(f"invalid settings: {exc}") from exc


async def _ensure_schema(settings: Settings, *, migrate: bool) -> None:
    from api.migrate import current_revision, head_revision, upgrade

    engine = create_engine(settings)
    try:
        if migrate:
            await upgrade(engine)
            return
        current = await current_revision(engine)
        if current != head_revision():
            raise CliError(
                f"the database is at migration {current or 'none'}, this code needs "
                f"{head_revision()}: run 'liveclass migrate' first"
            )
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api import public_url
    from api.app import create_app
    from api.web_server import uvicorn_options

    settings = public_url.for_serving(_settings(), args.host, args.port)
    configure_logging(settings.log_level, settings.log_format)
    # The embedded SQLite database belongs to this one process, so it is
    # migrated here; a shared database is migrated once by 'liveclass migrate'.
    migrate = settings.uses_sqlite if args.migrate is None else args.migrate
    asyncio.run(_ensure_schema(settings, migrate=migrate))
    app = create_app(settings, run_timers=True, run_workers=True)
    listening = public_url.listening_url(args.host, args.port)
    print(
        f"Liveclass listening on {listening}  (start page: {settings.public_url}/, "
        f"API reference: {settings.public_url}/docs)",
        file=sys.stderr,
    )
    if not public_url.is_explicit(settings) and args.host in public_url.WILDCARDS:
        print(
            "Links this server gives out (join links, calendar feeds) point at 127.0.0.1; "
            "set LIVECLASS_PUBLIC_URL to the address people use to reach this machine.",
            file=sys.stderr,
        )
    public_url.announce(settings)
    try:
        uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options(settings))
    finally:
        public_url.withdraw(settings)


NO_REDIS_FOR_WORKER = (
    "the embedded bus runs inside 'liveclass serve'; set LIVECLASS_REDIS_URL to run workers"
)


def cmd_worker(args: argparse.Namespace) -> None:
    from api.workers import run_worker

    settings = _settings()
    if not settings.redis_url:
        raise CliError(NO_REDIS_FOR_WORKER)
    configure_logging(settings.log_level, settings.log_format)
    # Workers never migrate: the shared database is migrated once by 'liveclass migrate'.
    asyncio.run(_ensure_schema(settings, migrate=False))
    print("Liveclass worker running event handlers (stop with Ctrl-C)", file=sys.stderr)
    asyncio.run(run_worker(settings, sweep=args.sweep))


def cmd_migrate(args: argparse.Namespace) -> None:
    from api.migrate import current_revision, downgrade, upgrade

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)

    async def run() -> str | None:
        engine = create_engine(settings)
        try:
            if args.downgrade:
                await downgrade(engine, args.downgrade)
            else:
                await upgrade(engine, args.revision)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    print(f"database is at migration {asyncio.run(run()) or 'base (empty)'}")


def cmd_demo(args: argparse.Namespace) -> None:
    from api import public_url
    from api.demo import seed_demo

    settings = public_url.for_links(_settings())
    configure_logging("WARNING", settings.log_format)

    async def run() -> Any:
        await _ensure_schema(settings, migrate=settings.uses_sqlite)
        engine = create_engine(settings)
        try:
            return await seed_demo(
                create_sessionmaker(engine),
                SystemClock(),
                secret=resolve_secret_key(settings),
                public_url=settings.public_url,
                join_grace=timedelta(seconds=settings.join_token_grace_seconds),
            )
        finally:
            await engine.dispose()

    seed = asyncio.run(run())
    if args.json:
        out: dict[str, Any] = {"session_id": seed.session_id}
        for role, login in seed.logins.items():
            out[role] = {"email": login.email, "password": login.password}
            if login.join_url:
                out[role]["join_url"] = login.join_url
        print(json.dumps(out))
        return
    print(f"Demo organisation ready. Session {seed.session_id} starts now and lasts 60 minutes.\n")
    for role, login in seed.logins.items():
        print(f"  {role:<12} {login.email:<32} password: {login.password}")
    print("\nJoin links (open each in its own browser window):")
    for role, login in seed.logins.items():
        if login.join_url:
            print(f"  {role:<12} {login.join_url}")
    print(
        f"\nLog in: POST {settings.public_url}/api/v1/auth/login with the email and password above."
    )
    print("Passwords change each time 'liveclass demo' runs.")


def _read_password(args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    if sys.stdin.isatty():
        first = getpass.getpass("Password (at least 10 characters): ")
        if first != getpass.getpass("Repeat password: "):
            raise CliError("the two passwords differ; run the command again")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 10:
        raise CliError("the password must be at least 10 characters long")
    return password


def cmd_create_user(args: argparse.Namespace) -> None:
    from pydantic import TypeAdapter, ValidationError

    from api.auth import hash_password
    from api.schemas import TimeZoneName
    from scheduling import people
    from scheduling.models import Organization, Role

    settings = _settings()
    configure_logging("WARNING", settings.log_format)
    try:
        TypeAdapter(TimeZoneName).validate_python(args.time_zone)
    except ValidationError as exc:
        raise CliError(f"--time-zone: unknown time zone {args.time_zone!r}") from exc
    password = _read_password(args)

    async def run() -> str:
        from sqlalchemy import select

        await _ensure_schema(settings, migrate=settings.uses_sqlite)
        engine = create_engine(settings)
        now = SystemClock().now()
        password_hash = None if password is None else await hash_password(password)
        try:
            async with create_sessionmaker(engine)() as db, db.begin():
                if args.org:
                    org = await people.find_organization(db, args.org)
                    org = org or await people.create_organization(db, args.org, now=now)
                else:
                    orgs = list(await db.scalars(select(Organization).limit(2)))
                    if len(orgs) != 1:
                        raise CliError(
                            "name the organisation with --org NAME (it is created if new)"
                            if not orgs
                            else "there are several organisations: choose one with --org NAME"
                        )
                    org = orgs[0]
                return await people.create_person(
                    db,
                    Role(args.role),
                    org_id=org.id,
                    email=args.email,
                    display_name=args.name,
                    password_hash=password_hash,
                    now=now,
                    time_zone=args.time_zone,
                    subjects=args.subjects,
                    levels=args.levels,
                    level=args.level,
                )
        finally:
            await engine.dispose()

    print(f"created {args.role} {asyncio.run(run())}")


PUBLISH_CHOICES = ("synthetic", "silent", "none")


def _media_file(path: str) -> tuple[EncodedLoop, ...]:
    """``--publish FILE``: the file's encoded media, read before joining."""
    from sfu.errors import MediaFileError
    from sfu.media_file import load_media_file

    if not Path(path).exists():
        raise CliError(
            f"--publish {path}: no such file; give a VP8/Opus media file, "
            f"or one of {', '.join(PUBLISH_CHOICES)}"
        )
    try:
        return load_media_file(path)
    except MediaFileError as exc:
        raise CliError(f"--publish: {exc.message}") from exc


def _video_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if min(size) < 16 or max(size) > 1920 or size[0] % 2 or size[1] % 2:
        raise argparse.ArgumentTypeError(
            f"{text!r}: width and height must be even, from 16 to 1920"
        )
    return size


def cmd_bot(args: argparse.Namespace) -> None:
    from sfu import ice
    from signaling.bot import run_bot

    settings = _settings()
    configure_logging("WARNING", settings.log_format)
    media = None if args.publish in PUBLISH_CHOICES else _media_file(args.publish)
    ice.confine(settings.ice_addresses, settings.ice_port_range)
    report = asyncio.run(
        run_bot(
            args.url,
            args.token,
            seconds=args.seconds,
            publish=args.publish != "none",
            silent=args.publish == "silent",
            media=media,
            timeline=args.timeline,
            video_size=args.video_size,
        )
    )
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"joined {report.session_id} as {report.participant_id} for {report.seconds:.1f} s")
        for pid, got in report.participants.items():
            print(f"  from {got['name'] or pid}: {got['audio']} audio, {got['video']} video frames")
        if report.active_speakers:
            named = ", ".join(pid or "nobody" for pid in report.active_speakers)
            print(f"  active speaker: {named}")
        print(
            "ok: media from everyone who published"
            if report.ok
            else "NOT ok: some media never arrived"
        )
    if not report.ok:
        raise SystemExit(1)


class ProgressBar:
    """``[#####.....] 52% 31.2/60.0 s`` on a stream: redrawn in place on a terminal,
    otherwise one line at each quarter so logs stay short. ``unit`` names what is
    counted; seconds show a decimal, anything else whole numbers."""

    WIDTH = 10

    def __init__(self, stream: TextIO, *, unit: str = "s") -> None:
        self.stream = stream
        self.unit = unit
        self.tty = stream.isatty()
        self._next_quarter = 0
        self._drawn = False

    def update(self, done: float, total: float) -> None:
        fraction = min(1.0, done / total) if total > 0 else 1.0
        filled = int(fraction * self.WIDTH)
        count = (
            f"{done:.1f}/{total:.1f} s"
            if self.unit == "s"
            else f"{done:.0f}/{total:.0f} {self.unit}"
        )
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:3.0f}% {count}"
        if self.tty:
            self.stream.write(f"\r{line}")
            self._drawn = True
        elif fraction * 4 >= self._next_quarter:
            self.stream.write(f"{line}\n")
            self._next_quarter = int(fraction * 4) + 1
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def cmd_transcribe(args: argparse.Namespace) -> None:
    from ai_docs import Track, Transcriber, Transcript, WhisperOptions, to_webvtt

    settings = _settings()
    configure_logging("WARNING", settings.log_format)
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such audio file; give the path of a recording")
    bar = ProgressBar(sys.stderr)

    async def run() -> Transcript:
        async with Transcriber(WhisperOptions.from_settings(settings)) as transcriber:
            track = Track(path, args.speaker or "Speaker")
            return await transcriber.atranscribe([track], progress=bar.update)

    try:
        transcript = asyncio.run(run())
    finally:
        bar.finish()
    if args.json:
        print(json.dumps(transcript.as_dict(), ensure_ascii=False))
    elif args.vtt:
        sys.stdout.write(to_webvtt(transcript))
    else:
        print(transcript.text(speakers=args.speaker is not None))


def cmd_facts_rebuild(args: argparse.Namespace) -> None:
    from sessions.facts import rebuild_all

    settings = _settings()
    configure_logging("WARNING", settings.log_format)
    bar = ProgressBar(sys.stderr, unit="sessions")

    async def run() -> int:
        await _ensure_schema(settings, migrate=settings.uses_sqlite)
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db, db.begin():
                return await rebuild_all(
                    db,
                    now=SystemClock().now(),
                    consent_age=settings.consent_age,
                    org_id=args.org,
                    progress=bar.update,
                )
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(run())
    finally:
        bar.finish()
    print(f"rebuilt the facts of {count} held session{'' if count == 1 else 's'}")


def cmd_keys_generate(args: argparse.Namespace) -> None:
    from core.sealing import generate_key

    key_id = args.id or f"k{datetime.now(UTC):%Y%m%d}"
    print(f"{key_id}:{generate_key()}")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    from sessions.sealing import reseal_recordings, reseal_transcripts

    settings = _settings()
    configure_logging("WARNING", settings.log_format)
    keys = settings.key_ring
    if not keys.on:
        raise CliError(
            "LIVECLASS_ENCRYPTION_KEYS is not set: put a new key first (liveclass keys "
            "generate) and the old ones after it, then rotate"
        )
    print(f"sealing under key {keys.current!r}", file=sys.stderr)
    files_bar = ProgressBar(sys.stderr, unit="recordings")
    try:
        files = reseal_recordings(settings.recordings_dir, keys, files_bar.update)
    finally:
        files_bar.finish()
    lines_bar = ProgressBar(sys.stderr, unit="transcript lines")

    async def run() -> int:
        await _ensure_schema(settings, migrate=settings.uses_sqlite)
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db, db.begin():
                return await reseal_transcripts(db, keys, lines_bar.update)
        finally:
            await engine.dispose()

    try:
        lines = asyncio.run(run())
    finally:
        lines_bar.finish()
    print(
        f"sealed {files} recording{'' if files == 1 else 's'} and {lines} transcript "
        f"line{'' if lines == 1 else 's'} under key {keys.current!r}; keys after it in "
        "LIVECLASS_ENCRYPTION_KEYS are no longer needed for them"
    )


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveclass",
        description="Liveclass: live online tutoring. "
        "Settings come from LIVECLASS_* variables and .env.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API server", description="Run the API server.")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply migrations at start (default: only for the embedded SQLite database)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="run the event handlers on the Redis bus (scale-out)",
        description="Run the outbox relay, a Redis Streams consumer for every event handler "
        "and the lifecycle sweep, until SIGTERM or Ctrl-C. Needs LIVECLASS_REDIS_URL and a "
        "migrated database; without Redis, 'liveclass serve' runs the handlers itself.",
    )
    worker.add_argument(
        "--sweep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the lifecycle sweep (default on; LIVECLASS_LIFECYCLE_SWEEP_SECONDS=0 "
        "turns it off too)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser(
        "migrate",
        help="upgrade (or downgrade) the database schema",
        description="Apply database migrations.",
    )
    migrate.add_argument(
        "--revision", default="head", help="upgrade to this revision (default head)"
    )
    migrate.add_argument(
        "--downgrade",
        metavar="REVISION",
        help="downgrade to this revision instead ('base' empties the database)",
    )
    migrate.set_defaults(func=cmd_migrate)

    demo = sub.add_parser(
        "demo",
        help="seed demo people and a session starting now",
        description="Seed a demo organisation with a coordinator, tutor, student, "
        "guardian and a session starting now; print their logins.",
    )
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    demo.set_defaults(func=cmd_demo)

    create = sub.add_parser(
        "create-user",
        help="add a user (the first coordinator, for instance)",
        description="Add a user. The password is asked for on a terminal, or read as one line "
        "from standard input.",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument(
        "--role", required=True, choices=["coordinator", "tutor", "student", "guardian"]
    )
    create.add_argument("--org", help="organisation name; created if it does not exist")
    create.add_argument("--time-zone", default="UTC", help="IANA time zone (default UTC)")
    create.add_argument("--subjects", type=_csv, default=[], help="tutor: comma-separated subjects")
    create.add_argument("--levels", type=_csv, default=[], help="tutor: comma-separated levels")
    create.add_argument("--level", help="student: their level")
    create.add_argument(
        "--no-password", action="store_true", help="create without a password (no login)"
    )
    create.set_defaults(func=cmd_create_user)
    bot = sub.add_parser(
        "bot",
        help="join a session as a bot, publish, and report received media",
        description="Join a session over signaling as a Python participant (aiortc), publish a "
        "pre-encoded synthetic loop or a VP8/Opus file without transcoding, and report the "
        "frames received from each other participant. Exits 0 when media arrived from everyone "
        "who published. Honours LIVECLASS_ICE_ADDRESSES and LIVECLASS_ICE_PORT_RANGE.",
    )
    bot.add_argument("--url", required=True, help="signaling URL, e.g. ws://127.0.0.1:8000/rtc")
    bot.add_argument(
        "--token", required=True, help="a join token (POST /api/v1/sessions/{id}/join-token)"
    )
    bot.add_argument("--seconds", type=float, default=10.0, help="how long to stay (default 10)")
    bot.add_argument(
        "--publish",
        metavar="{FILE,synthetic,silent,none}",
        default="synthetic",
        help="what to publish: a media file's VP8 video and/or Opus audio as they are, "
        "looped (WebM, Matroska, IVF, Ogg; convert others with ffmpeg -i IN -c:v libvpx "
        "-c:a libopus OUT.webm), a synthetic VP8+Opus loop with a tone (default), "
        "the same with silent audio, or nothing",
    )
    bot.add_argument(
        "--video-size",
        type=_video_size,
        default=(320, 240),
        metavar="WxH",
        help="size of the synthetic video (default 320x240; 640x480 is about 525 kbit/s)",
    )
    bot.add_argument("--json", action="store_true", help="print the report as one JSON object")
    bot.add_argument(
        "--timeline",
        action="store_true",
        help="with --json: add when each audio packet and decodable video frame arrived",
    )
    bot.set_defaults(func=cmd_bot)
    transcribe = sub.add_parser(
        "transcribe",
        help="transcribe an audio file with Whisper",
        description="Transcribe an audio file (anything FFmpeg reads) with faster-whisper, as "
        "configured by LIVECLASS_WHISPER_*. Prints the text, one line per segment, on stdout "
        "and progress on stderr.",
    )
    transcribe.add_argument("file", metavar="FILE", help="the audio file")
    output = transcribe.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print the transcript's segments as one JSON object"
    )
    output.add_argument("--vtt", action="store_true", help="print WebVTT captions")
    transcribe.add_argument(
        "--speaker", metavar="NAME", help="who speaks: names each line and caption"
    )
    transcribe.set_defaults(func=cmd_transcribe)
    facts = sub.add_parser(
        "facts",
        help="structured session data (what analytics read)",
        description="Manage the structured data drawn from each held session.",
    )
    facts_sub = facts.add_subparsers(dest="facts_command", required=True, metavar="ACTION")
    rebuild = facts_sub.add_parser(
        "rebuild",
        help="draw every held session's facts again from what is stored",
        description="Draw every held session's facts again from its attendance, transcript "
        "and document, in one transaction: for sessions held before an upgrade added facts, "
        "or after data was corrected by hand. Progress on stderr.",
    )
    rebuild.add_argument("--org", metavar="ORG_ID", help="only this organisation's sessions")
    rebuild.set_defaults(func=cmd_facts_rebuild)
    keys = sub.add_parser(
        "keys",
        help="encryption keys for recordings and transcripts at rest",
        description="Make a key for LIVECLASS_ENCRYPTION_KEYS, or seal everything stored "
        "under its first key (see docs/privacy.md, 'Encryption at rest').",
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = keys_sub.add_parser(
        "generate",
        help="print a new random key as ID:KEY",
        description="Print a new 256-bit key as ID:KEY, to put first in "
        "LIVECLASS_ENCRYPTION_KEYS (keep the old keys after it until you have rotated).",
    )
    generate.add_argument("--id", help="the key's id (default: k and today's date)")
    generate.set_defaults(func=cmd_keys_generate)
    rotate = keys_sub.add_parser(
        "rotate",
        help="seal every recording and transcript under the first key",
        description="Open every recording and transcript line sealed under another key "
        "(or stored before keys were set) and seal it under the first key of "
        "LIVECLASS_ENCRYPTION_KEYS. Restart every server with the new keys first: what "
        "they record from then on is under the new key and left alone. Safe to run "
        "again. Progress on stderr.",
    )
    rotate.set_defaults(func=cmd_keys_rotate)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], None | Awaitable[None]] = args.func
    try:
        func(args)
    except (CliError, ConfigurationError) as exc:
        print(f"liveclass: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except LiveclassError as exc:
        print(f"liveclass: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except (OperationalError, ConnectionError) as exc:
        reason = exc.orig if isinstance(exc, OperationalError) else exc
        print(
            f"liveclass: cannot reach the database ({reason}); "
            "start it or fix LIVECLASS_DATABASE_URL",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        print(f"liveclass: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
