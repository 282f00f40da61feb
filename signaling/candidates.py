"""Which ICE candidates a client may hand the SFU: a pure decision, tested without I/O.

A candidate is an address the SFU will send STUN checks to. Accepted blindly, a
client could aim the server at itself (its HTTP port, the database on loopback)
or at addresses nobody should get packets from it (broadcast, multicast). So a
candidate is refused when its address is unspecified, multicast, broadcast or
link-local, when it is loopback while the SFU itself is not on loopback, or when
it names the server's own listening endpoint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CandidatePolicy", "refusal"]


@dataclass(frozen=True)
class CandidatePolicy:
    """What the server is: the addresses its ICE gathers on and its listening endpoint.

    ``server_addresses`` empty means ICE uses every host address but loopback
    (aioice's default). ``server_port`` is the port the signaling server listens on.
    """

    server_addresses: tuple[str, ...] = ()
    server_host: str | None = None
    server_port: int | None = None

    @classmethod
    def of(cls, addresses: Iterable[str], server: tuple[str, int] | None) -> CandidatePolicy:
        host, port = server if server is not None else (None, None)
        return cls(tuple(addresses), host, port)

    @property
    def loopback_allowed(self) -> bool:
        return any(ip is not None and ip.is_loopback for ip in map(_ip, self.server_addresses))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def refusal(host: str, port: int, policy: CandidatePolicy) -> str | None:
    """Why a candidate at ``host``:``port`` is refused, or None to accept it."""
    ip = _ip(host)
    if ip is None:
        return f"candidate address {host[:64]!r} is not an IP address"
    if not 0 < port < 65_536:
        return f"candidate port {port} is not a usable port"
    if ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
        return f"candidate address {ip} cannot be a peer"
    if ip.is_link_local:
        return f"candidate address {ip} is link-local"
    if ip.is_loopback and not policy.loopback_allowed:
        return f"candidate address {ip} is loopback; the server is not"
    own = {policy.server_host, *policy.server_addresses} - {None}
    if port == policy.server_port and (ip.is_loopback or str(ip) in own):
        return f"candidate {ip}:{port} is this server's own endpoint"
    return None
