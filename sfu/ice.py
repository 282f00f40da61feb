"""Where ICE may gather candidates, and which servers clients are told to use.

aioice leaves 127.0.0.1 and ::1 out of ``get_host_addresses``, so on loopback
alone an aiortc peer offers no candidates and ICE never starts. Deployments
also need to pin the announced address (mediasoup's ``listenIps``, LiveKit's
``node_ip``) and the UDP ports a firewall must open (mediasoup's
``rtcMinPort``/``rtcMaxPort``). ``confine`` replaces the address look-up, which
aioice makes at call time, with the configured list, and the binding of host
candidate sockets with one that stays inside the configured port range.

Both seams are private names of aioice (``get_host_addresses`` and
``Connection.get_component_candidates``, which binds each host socket to port
0): aioice offers no option for either. aioice and aiortc are pinned in
pyproject.toml, and ``tests/sfu/test_ice.py`` checks both seams on real sockets.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import random
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aioice.ice
import aioice.turn
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from core.logging import get_logger
from sfu.errors import IcePortsExhausted

log = get_logger("liveclass.sfu.ice")

ComponentGatherer = Callable[
    [aioice.ice.Connection, int, list[str], int], Coroutine[Any, Any, list[Candidate]]
]

_original_addresses = aioice.ice.get_host_addresses
_original_gatherer: ComponentGatherer = aioice.ice.Connection.get_component_candidates


def confine(addresses: Sequence[str], port_range: tuple[int, int] | None = None) -> None:
    """Gather host candidates only on ``addresses``, on UDP ports in ``port_range``.

    Args:
        addresses: IP addresses to gather on; empty restores aioice's default
            (every address of the host but loopback).
        port_range: lowest and highest port, both included; ``None`` restores
            aioice's default (any free port).
    """
    if not addresses:
        aioice.ice.get_host_addresses = _original_addresses
    else:
        parsed = [ipaddress.ip_address(a) for a in addresses]

        def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            return [
                str(a)
                for a in parsed
                if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)
            ]

        aioice.ice.get_host_addresses = host_addresses
    gatherer = _original_gatherer
    if port_range is not None:
        gatherer = _gatherer_in(range(port_range[0], port_range[1] + 1))
    aioice.ice.Connection.get_component_candidates = gatherer  # type: ignore[method-assign,assignment]


def gathering_addresses() -> list[str]:
    """The addresses host candidates are gathered on now (``confine``'s, or the host's)."""
    return list(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True))


def bind_in_range(address: str, ports: range) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` on a free port of ``ports``.

    The search starts at a random port, so that processes sharing a range
    rarely collide, and moves on when a port is in use (EADDRINUSE).

    Raises:
        IcePortsExhausted: every port of the range is in use on ``address``.
        OSError: ``address`` cannot be bound at all (not an address of this host).
    """
    family, _, _, _, sockaddr = socket.getaddrinfo(
        address, 0, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
    )[0]
    start = random.randrange(len(ports))
    for i in range(len(ports)):
        port = ports[(start + i) % len(ports)]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((sockaddr[0], port, *sockaddr[2:]))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise IcePortsExhausted(
        f"every UDP port in LIVECLASS_ICE_PORT_RANGE ({ports.start}-{ports.stop - 1}) is in use "
        f"on {address}; widen the range (one port per connection and address) or free ports"
    )


def _gatherer_in(ports: range) -> ComponentGatherer:
    """aioice 0.13.0's ``get_component_candidates`` with host sockets bound inside ``ports``.

    Host and server-reflexive candidates are made here as aioice makes them;
    relayed candidates are left to aioice (called with no host addresses),
    since the socket towards a TURN server needs no port of the range.
    """

    async def get_component_candidates(
        self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5
    ) -> list[Candidate]:
        loop = asyncio.get_running_loop()
        hosts: list[aioice.ice.StunProtocol] = []
        for address in addresses:
            try:
                sock = bind_in_range(address, ports)
            except OSError as exc:
                # As aioice does: an address that cannot be bound is left out.
                log.info("ice address not bound", address=address, error=str(exc))
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
            _, protocol = await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(self), sock=sock
            )
            # Owned by the connection at once, so that its close() frees the port
            # even when a later address finds the range exhausted.
            self._protocols.append(protocol)
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            hosts.append(protocol)
        relayed, reflexive = await asyncio.gather(
            _original_gatherer(self, component, [], timeout),
            _reflexive_candidates(self, hosts, timeout),
        )
        return [p.local_candidate for p in hosts] + reflexive + relayed

    return get_component_candidates


async def _reflexive_candidates(
    connection: aioice.ice.Connection, hosts: list[aioice.ice.StunProtocol], timeout: int
) -> list[Candidate]:
    """Ask the STUN server, if any, how each IPv4 host socket is seen from outside."""
    if not connection.stun_server:
        return []
    tasks = [
        asyncio.create_task(aioice.ice.server_reflexive_candidate(p, connection.stun_server))
        for p in hosts
        if ipaddress.ip_address(p.local_candidate.host).version == 4
    ]
    if not tasks:
        return []
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout)
    finally:
        for task in tasks:
            task.cancel()
    return [t.result()[0] for t in done if t.exception() is None]


def rtc_configuration(ice_servers: Sequence[str]) -> RTCConfiguration:
    """Our configuration, never aiortc's default (which means a public Google STUN server).

    Max-bundle: one transport for every m-line from the start. Under aiortc's
    default "balanced" policy a second transceiver of a kind, created before
    the first negotiation, is left on a transport that BUNDLE then abandons.
    """
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url) for url in ice_servers],
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )
