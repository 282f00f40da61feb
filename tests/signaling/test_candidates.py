"""Which client ICE candidates the SFU will send checks to: the pure rule."""

from __future__ import annotations

import pytest

from signaling.candidates import CandidatePolicy, refusal

PUBLIC = CandidatePolicy(("203.0.113.7",), "203.0.113.7", 8000)
LOOPBACK = CandidatePolicy(("127.0.0.1",), "127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("host", "port", "policy", "refused"),
    [
        ("198.51.100.4", 50000, PUBLIC, False),
        ("2001:db8::4", 50000, PUBLIC, False),
        ("10.0.0.8", 61000, PUBLIC, False),
        ("127.0.0.1", 50000, PUBLIC, True),  # loopback while the server is not
        ("::1", 50000, PUBLIC, True),
        ("127.0.0.1", 50000, LOOPBACK, False),  # tests and a laptop: all on loopback
        ("127.0.0.1", 8000, LOOPBACK, True),  # the server's own HTTP port
        ("203.0.113.7", 8000, PUBLIC, True),
        ("203.0.113.7", 8001, PUBLIC, False),
        ("0.0.0.0", 5000, PUBLIC, True),
        ("::", 5000, PUBLIC, True),
        ("224.0.0.251", 5353, PUBLIC, True),
        ("255.255.255.255", 5000, PUBLIC, True),
        ("169.254.1.1", 5000, PUBLIC, True),
        ("fe80::1", 5000, PUBLIC, True),
        ("198.51.100.4", 0, PUBLIC, True),
        ("host.example", 5000, PUBLIC, True),
    ],
)
def test_candidates_aimed_away_from_peers_are_refused(
    host: str, port: int, policy: CandidatePolicy, refused: bool
) -> None:
    assert (refusal(host, port, policy) is not None) is refused


def test_with_no_confined_addresses_loopback_is_refused() -> None:
    """Unconfined, ICE gathers on every address but loopback: loopback is nobody's peer."""
    assert refusal("127.0.0.1", 50000, CandidatePolicy.of([], ("0.0.0.0", 8000))) is not None
