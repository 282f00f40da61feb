"""The active speaker: the detector on a simulated clock, then a room of real bots."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from sfu import ice
from sfu.room import Room
from sfu.speaker import ActiveSpeakerDetector, SpeakerChange, SpeakerSettings
from tests.sfu.conftest import eventually, join

PACKET = 0.02  # 20 ms Opus frames, as browsers send
TICK = 0.2  # the room's default update interval
LOUD, NORMAL, QUIET = 15, 25, 70  # levels in -dBov: shouting, talking, room noise

Levels = Callable[[float], dict[str, int]]


def simulate(
    detector: ActiveSpeakerDetector, levels: Levels, *, end: float, start: float = 0.0
) -> list[tuple[float, str | None]]:
    """Feed 20 ms packets from ``levels(t)`` and update every 200 ms; return (time, named)."""
    changes: list[tuple[float, str | None]] = []
    per_tick = round(TICK / PACKET)
    for i in range(round((end - start) / PACKET)):
        now = start + i * PACKET
        for participant_id, level in levels(now).items():
            detector.observe(participant_id, level, now)
        if i % per_tick == per_tick - 1:
            change = detector.update(now)
            if change is not None:
                changes.append((round(now, 2), change.participant_id))
    return changes


def test_the_loud_participant_is_named_within_a_tick() -> None:
    """Talking is named at the first update after 150 ms of speech; room noise never."""
    detector = ActiveSpeakerDetector()
    changes = simulate(detector, lambda t: {"a": NORMAL, "b": QUIET}, end=3)
    assert changes == [(0.18, "a")]
    assert detector.active == "a"
    loudness = detector.loudness(3.0)
    assert loudness["a"] == pytest.approx(-NORMAL, abs=0.5)
    assert loudness["b"] == pytest.approx(-QUIET, abs=0.5)
    assert set(detector.speaking(3.0)) == {"a"}


@pytest.mark.parametrize(("level", "named"), [(40, True), (41, False), (127, False)])
def test_speech_threshold(level: int, named: bool) -> None:
    """A packet counts as speech at -40 dBov or louder; anything quieter names nobody."""
    detector = ActiveSpeakerDetector()
    changes = simulate(detector, lambda t: {"a": level}, end=2)
    assert changes == ([(0.18, "a")] if named else [])


def test_short_loud_noises_are_not_speech() -> None:
    """A 100 ms knock every half second (20% of the window) never names anyone."""
    detector = ActiveSpeakerDetector()
    changes = simulate(detector, lambda t: {"a": LOUD if t % 0.5 < 0.1 else 127}, end=4)
    assert changes == []


def test_nobody_after_silence() -> None:
    """Nobody is named 1.5 s after the speaker's last speech, whether silence or no packets."""
    for after in ({"a": 127}, {}):
        detector = ActiveSpeakerDetector()
        changes = simulate(
            detector, lambda t, after=after: {"a": NORMAL} if t < 1 else after, end=4
        )
        assert [who for _, who in changes] == ["a", None]
        went_quiet = changes[1][0]
        assert 1 + 1.5 <= went_quiet <= 1 + 0.5 + 1.5 + TICK, changes


def test_pauses_between_words_keep_the_speaker() -> None:
    """Talking in 300 ms bursts with 200 ms pauses is one turn, not a string of changes."""
    detector = ActiveSpeakerDetector()
    changes = simulate(detector, lambda t: {"a": NORMAL if t % 0.5 < 0.3 else 127}, end=5)
    assert changes == [(0.18, "a")]


def test_hold_before_someone_else_takes_the_floor() -> None:
    """When the speaker stops, the next one is named once the first held the floor 1 s."""
    detector = ActiveSpeakerDetector()

    def levels(t: float) -> dict[str, int]:
        return {"a": NORMAL if t < 0.4 else 127, "b": NORMAL if t >= 0.4 else 127}

    changes = simulate(detector, levels, end=3)
    assert changes == [(0.18, "a"), (1.18, "b")]


def test_the_floor_moves_to_the_next_speaker_promptly() -> None:
    """After a long turn, the next speaker is named within 400 ms of starting."""
    detector = ActiveSpeakerDetector()

    def levels(t: float) -> dict[str, int]:
        return {"a": NORMAL if t < 3 else 127, "b": NORMAL if t >= 3.2 else 127}

    changes = simulate(detector, levels, end=6)
    assert [who for _, who in changes] == ["a", "b"]
    assert 3.2 < changes[1][0] <= 3.6


def test_overlapping_talk_keeps_the_speaker() -> None:
    """Someone talking over the speaker at the same loudness does not take the floor."""
    detector = ActiveSpeakerDetector()

    def levels(t: float) -> dict[str, int]:
        return {"a": NORMAL, "b": NORMAL if t >= 1.5 else 127}

    assert simulate(detector, levels, end=5) == [(0.18, "a")]


def test_a_much_louder_interruption_takes_the_floor_after_the_hold() -> None:
    """Someone 10 dB louder than the speaker for over a second takes the floor; not before."""
    detector = ActiveSpeakerDetector()

    def levels(t: float) -> dict[str, int]:
        return {"a": NORMAL, "b": LOUD if t >= 2 else 127}

    changes = simulate(detector, levels, end=5)
    assert [who for _, who in changes] == ["a", "b"]
    assert 2 + 1 <= changes[1][0] <= 2 + 1 + 2 * TICK + 0.2


def test_a_speaker_who_leaves_is_replaced_at_once() -> None:
    """Removing the speaker is an immediate change to nobody; the next update names another."""
    detector = ActiveSpeakerDetector()
    simulate(detector, lambda t: {"a": LOUD, "b": NORMAL}, end=2)
    assert detector.active == "a"
    assert detector.remove("b") is None
    simulate(detector, lambda t: {"a": LOUD, "b": NORMAL}, start=2, end=2.5)
    assert detector.remove("a") == SpeakerChange(None)
    assert detector.active is None
    change = detector.update(2.5)
    assert change is not None and change.participant_id == "b"
    assert change.loudness_dbov == pytest.approx(-NORMAL, abs=0.5)


def test_settings_and_levels_are_checked() -> None:
    """Impossible settings and levels outside RFC 6464's 0..127 are refused."""
    for bad in ({"speech_level": 128}, {"min_speech": 0}, {"window": 0}, {"margin_db": -1}):
        with pytest.raises(ValueError):
            SpeakerSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside 0..127"):
        ActiveSpeakerDetector().observe("a", 128, 0.0)


# --- a room of real aiortc bots ------------------------------------------------


@pytest.fixture
async def speaker_room() -> AsyncIterator[tuple[Room, list[str | None]]]:
    """A room that records every active-speaker change it reports."""
    ice.confine(["127.0.0.1"])
    changes: list[str | None] = []
    room = Room(
        "room_speakers", max_participants=4, ice_servers=[], on_active_speaker=changes.append
    )
    room.test_bots = []  # type: ignore[attr-defined]
    yield room, changes
    await room.aclose()
    for bot in room.test_bots:  # type: ignore[attr-defined]
        await bot.aclose()
    ice.confine([])


async def test_the_room_names_the_bot_that_speaks(
    speaker_room: tuple[Room, list[str | None]],
) -> None:
    """Of a bot sending its tone and one sending silence, the room names the tone; then nobody."""
    room, changes = speaker_room
    await join(room, "quiet", silent=True)
    await join(room, "loud")
    await eventually(lambda: room.active_speaker == "loud")

    def heard() -> dict[str, float]:
        return room.speakers.loudness(time.monotonic())

    # The tone is 0.2 of full scale: -17 dBov once it fills the window; silence is -127.
    await eventually(lambda: abs(heard().get("loud", 0) + 17) < 1)
    await eventually(lambda: abs(heard().get("quiet", 0) + 127) < 1)
    assert changes == ["loud"]
    await room.remove_peer("loud")
    assert changes == ["loud", None]
