"""Where ICE may gather candidates, and which servers clients are told to use.

aioice leaves 127.0.0.1 and ::1 out of ``get_host_addresses``, so on loopback
alone an aiortc peer offers no candidates and ICE never starts. Deployments
also need to pin the announced address (mediasoup's ``listenIps``, LiveKit's
``node_ip``). ``confine`` replaces that look-up, which aioice makes at call
time, with the configured list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

_original = aioice.ice.get_host_addresses


def confine(addresses: Sequence[str]) -> None:
    """Gather host candidates only on ``addresses``; an empty list restores aioice's default."""
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    parsed = [ipaddress.ip_address(a) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a) for a in parsed if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)
        ]

    aioice.ice.get_host_addresses = host_addresses


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
