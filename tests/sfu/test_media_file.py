"""Publishing a media file's encoded frames as they are: WebM, Ogg, and what is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sfu.bot import BotPeer
from sfu.errors import MediaFileError
from sfu.media_file import load_media_file
from sfu.peer import TrackInfo
from sfu.room import Room
from sfu.synthetic import EncodedLoop
from tests.sfu.conftest import WAIT, eventually, join
from tests.sfu.media_files import AUDIO_FRAME, AUDIO_RATE, FPS, write_media


async def join_publishing(
    room: Room, participant_id: str, media: tuple[EncodedLoop, ...]
) -> BotPeer:
    """Connect a bot that publishes ``media`` to the room, as signaling would."""
    bot = BotPeer(ice_servers=[], media=media)

    async def exchange(sdp: str, tracks: list[TrackInfo]) -> str:
        return await bot.answer_offer(sdp, tracks)

    peer = room.add_peer(participant_id, exchange)
    room.test_bots.append(bot)  # type: ignore[attr-defined]
    async with asyncio.timeout(10 * WAIT):
        await peer.connected.wait()
    return bot


def test_webm_packets_become_loops_unchanged(tmp_path: Path) -> None:
    """VP8 and Opus packets of a WebM file are kept byte for byte, with keyframes and timing."""
    path = tmp_path / "clip.webm"
    muxed = write_media(path)
    loops = {loop.kind: loop for loop in load_media_file(path)}
    assert set(loops) == {"audio", "video"}
    video, audio = loops["video"], loops["audio"]
    assert list(video.frames) == muxed["video"]
    assert list(audio.frames) == muxed["audio"]
    assert video.keyframes == (0, FPS)  # one a second, as encoded
    assert video.frame_duration == pytest.approx(1 / FPS)
    assert audio.frame_duration == pytest.approx(AUDIO_FRAME / AUDIO_RATE)
    assert (video.clock_rate, audio.clock_rate) == (90_000, 48_000)


async def test_a_bot_publishes_a_webm_file(room: Room, tmp_path: Path) -> None:
    """Another participant receives the file's audio and video, keyframes included."""
    path = tmp_path / "clip.webm"
    write_media(path)
    await join_publishing(room, "par_file", load_media_file(path))
    listener = await join(room, "par_listener", publish=False)
    await eventually(
        lambda: (
            (got := listener.received["par_file"]).audio > 25
            and got.video > 10
            and got.video_keyframes > 0
        )
    )


async def test_an_ogg_file_publishes_audio_only(room: Room, tmp_path: Path) -> None:
    """An Opus-only file publishes just audio: no video slot is offered to others."""
    path = tmp_path / "voice.ogg"
    write_media(path, video=None)
    [loop] = load_media_file(path)
    assert loop.kind == "audio"
    await join_publishing(room, "par_voice", (loop,))
    listener = await join(room, "par_listener", publish=False)
    await eventually(lambda: listener.received["par_voice"].audio > 25)
    assert listener.received["par_voice"].video == 0
    assert [p.kind for p in room.publications["par_voice"]] == ["audio"]


@pytest.mark.parametrize(
    ("name", "video", "audio", "message"),
    [
        ("clip.mp4", "libx264", "aac", "video h264, audio aac"),
        ("clip.mkv", "libx264", "libopus", "video h264"),
        ("voice.m4a", None, "aac", "audio aac"),
    ],
)
def test_other_codecs_are_refused_with_the_conversion(
    tmp_path: Path, name: str, video: str | None, audio: str, message: str
) -> None:
    """A codec the SFU cannot forward is named, with the accepted ones and an ffmpeg command."""
    path = tmp_path / name
    write_media(path, video=video, audio=audio)
    with pytest.raises(MediaFileError, match=message) as caught:
        load_media_file(path)
    assert "only VP8 video and Opus audio" in caught.value.message
    assert f"ffmpeg -i {path} -c:v libvpx -c:a libopus out.webm" in caught.value.message
    assert "\n" not in caught.value.message


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    """A missing file, or one that is not media, cannot be opened, and the message says so."""
    with pytest.raises(MediaFileError, match="No such file"):
        load_media_file(tmp_path / "missing.webm")
    (tmp_path / "empty.webm").write_bytes(b"")
    with pytest.raises(MediaFileError, match="cannot open .*empty.webm .*Invalid data"):
        load_media_file(tmp_path / "empty.webm")


def test_a_file_too_large_to_hold_is_refused(tmp_path: Path) -> None:
    """The whole file is held in memory, so the size is bounded."""
    path = tmp_path / "clip.webm"
    write_media(path)
    with pytest.raises(MediaFileError, match="-t 60 -c copy"):
        load_media_file(path, max_bytes=1000)
