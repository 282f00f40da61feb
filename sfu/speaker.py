"""Who is speaking: a room's active speaker, from RFC 6464 audio levels, with no I/O.

The SFU reads the level each publisher's browser writes into every audio
packet (the ``ssrc-audio-level`` header extension: 0 is the loudest, 127
silence, in -dBov) and feeds it to ``observe``; nothing is decoded. The room
calls ``update`` a few times a second and reports a ``SpeakerChange`` only when
the active speaker changes. Times are arguments, so tests drive the clock.

The rules, in the spirit of LiveKit's audio level and mediasoup's
AudioLevelObserver, plus a hold so the highlight does not flap:

- a packet is speech when it is at least as loud as ``speech_level``;
- a participant *speaks* when speech covered at least ``min_speech`` of the
  last ``window`` seconds. Their loudness is the mean power over that window
  in dBov, so steady talk outranks a short loud noise;
- with nobody named, the loudest speaker is named at once;
- the named speaker keeps the floor while they speak, unless someone else
  stays ``margin_db`` louder for ``hold`` seconds;
- when the named speaker pauses, another speaker takes over once the named one
  has held the floor for ``hold`` seconds; after ``silence`` seconds in which
  nobody speaks, nobody is named.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

SILENT_LEVEL = 127  # RFC 6464: -127 dBov, digital silence
# A packet's duration is the gap since the one before it, but at most this: a
# longer gap is loss or discontinuous transmission, not one long packet.
MAX_PACKET_SECONDS = 0.06  # Opus' longest usual frame
FIRST_PACKET_SECONDS = 0.02  # WebRTC's usual Opus frame
MAX_PACKETS = 1024  # per participant; far above one window's worth


@dataclass(frozen=True)
class SpeakerSettings:
    """How the active speaker is chosen (see the module docstring).

    The defaults follow what browsers send: Chrome's gain control puts
    conversational speech at about -20 to -40 dBov, while background under its
    noise suppression sits well below -50. LiveKit's defaults (a packet at
    -35 dBov or louder is active, 40% of a 400 ms window) are close.
    """

    speech_level: int = 40  # a packet at -40 dBov or louder is speech
    window: float = 0.5  # seconds of packets each decision looks at
    min_speech: float = 0.3  # of the window: 150 ms of speech in the last 500 ms
    hold: float = 1.0  # seconds a named speaker keeps the floor at least
    margin_db: float = 6.0  # how much louder someone must be to interrupt
    silence: float = 1.5  # seconds without speech before nobody is named
    interval: float = 0.2  # how often the room calls ``update``

    def __post_init__(self) -> None:
        if not 0 <= self.speech_level <= SILENT_LEVEL:
            raise ValueError(f"speech_level is {self.speech_level}; use 0 (loud) to 127 (silent)")
        if not 0 < self.min_speech <= 1:
            raise ValueError(f"min_speech is {self.min_speech}; use a fraction in (0, 1]")
        for name in ("window", "hold", "silence", "interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.margin_db < 0:
            raise ValueError(f"margin_db is {self.margin_db}; use 0 or more")


@dataclass(frozen=True)
class SpeakerChange:
    """The active speaker changed: to ``participant_id``, or to nobody (None)."""

    participant_id: str | None
    loudness_dbov: float | None = None  # the new speaker's loudness over the window


@dataclass
class _Voice:
    """One participant's recent packets: (arrival, duration, level)."""

    packets: deque[tuple[float, float, int]] = field(
        default_factory=lambda: deque(maxlen=MAX_PACKETS)
    )
    last_arrival: float | None = None


class ActiveSpeakerDetector:
    """The active speaker of one room, decided from audio levels alone."""

    def __init__(self, settings: SpeakerSettings | None = None) -> None:
        self.settings = settings or SpeakerSettings()
        self._voices: dict[str, _Voice] = {}
        self._active: str | None = None
        self._changed_at = 0.0
        self._last_heard = 0.0
        self._challenge: tuple[str, float] | None = None  # (louder participant, since)

    @property
    def active(self) -> str | None:
        """The participant named now, or None."""
        return self._active

    def observe(self, participant_id: str, level: int, now: float) -> None:
        """Record one audio packet's level (0 loudest .. 127 silent) that arrived at ``now``.

        Raises:
            ValueError: ``level`` is outside 0..127.
        """
        if not 0 <= level <= SILENT_LEVEL:
            raise ValueError(f"audio level {level} is outside 0..127")
        voice = self._voices.setdefault(participant_id, _Voice())
        if voice.last_arrival is None:
            duration = FIRST_PACKET_SECONDS
        else:
            duration = min(max(now - voice.last_arrival, 0.0), MAX_PACKET_SECONDS)
        voice.last_arrival = now
        voice.packets.append((now, duration, level))
        self._forget_before(voice, now - self.settings.window)

    def remove(self, participant_id: str) -> SpeakerChange | None:
        """Forget a participant who left; a change to nobody if they were named."""
        self._voices.pop(participant_id, None)
        if self._challenge is not None and self._challenge[0] == participant_id:
            self._challenge = None
        if self._active == participant_id:
            self._active = None
            return SpeakerChange(None)
        return None

    def loudness(self, now: float) -> dict[str, float]:
        """Everyone heard within the window before ``now``: their mean power over it, in dBov."""
        return {pid: dbov for pid, (dbov, _) in self._measure(now).items()}

    def speaking(self, now: float) -> dict[str, float]:
        """Everyone speaking at ``now``, with their loudness (mean dBov over the window)."""
        needed = self.settings.min_speech * self.settings.window
        return {pid: dbov for pid, (dbov, speech) in self._measure(now).items() if speech >= needed}

    def _measure(self, now: float) -> dict[str, tuple[float, float]]:
        """Per participant heard in the window: (mean power in dBov, seconds of speech)."""
        s = self.settings
        out: dict[str, tuple[float, float]] = {}
        for participant_id, voice in self._voices.items():
            self._forget_before(voice, now - s.window)
            if not voice.packets:
                continue
            speech = sum(d for _, d, level in voice.packets if level <= s.speech_level)
            energy = sum(d * 10 ** (-level / 10) for _, d, level in voice.packets) / s.window
            dbov = 10 * math.log10(energy) if energy > 0 else -float(SILENT_LEVEL)
            out[participant_id] = (dbov, speech)
        return out

    def update(self, now: float) -> SpeakerChange | None:
        """Decide who is speaking at ``now``; a ``SpeakerChange`` only when that changes."""
        s = self.settings
        speaking = self.speaking(now)
        loudest = max(speaking, key=lambda p: speaking[p], default=None)
        current = self._active
        if current is None:
            return None if loudest is None else self._name(loudest, speaking, now)
        if current in speaking:
            self._last_heard = now
            assert loudest is not None
            if loudest == current or speaking[loudest] < speaking[current] + s.margin_db:
                self._challenge = None
                return None
            if self._challenge is None or self._challenge[0] != loudest:
                self._challenge = (loudest, now)
                return None
            if now - self._challenge[1] >= s.hold and now - self._changed_at >= s.hold:
                return self._name(loudest, speaking, now)
            return None
        self._challenge = None
        if loudest is not None:
            if now - self._changed_at >= s.hold:
                return self._name(loudest, speaking, now)
            return None
        if now - self._last_heard >= s.silence:
            return self._name(None, speaking, now)
        return None

    def _name(
        self, participant_id: str | None, speaking: dict[str, float], now: float
    ) -> SpeakerChange:
        self._active = participant_id
        self._changed_at = self._last_heard = now
        self._challenge = None
        return SpeakerChange(
            participant_id, None if participant_id is None else speaking[participant_id]
        )

    @staticmethod
    def _forget_before(voice: _Voice, start: float) -> None:
        while voice.packets and voice.packets[0][0] <= start:
            voice.packets.popleft()
