"""The media plane on ``/metrics``: per room and leg, read off the live rooms at each scrape.

A collector, not counters kept on the side: the rooms already count every
packet (``sfu.forwarding``) and hold each leg's RTCP state
(``passthrough.LegState``), so a scrape walks them. A room's series go when
the room does; nothing accumulates for rooms that closed. Labels: ``room``
(the session id), ``participant`` (who receives, on a leg; who publishes, on a
publication), ``publisher``, ``kind`` and ``source`` (microphone, camera or
screen: a participant sharing a screen publishes two videos).

``first_media`` is the one thing a scrape cannot rebuild: the time from a
participant joining to the first packet forwarded to them, a histogram fed by
the room as it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sfu.room import Room

FIRST_MEDIA_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


def first_media_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "liveclass_media_first_packet_seconds",
        "Time from a participant joining a room to the first media packet forwarded to them.",
        buckets=FIRST_MEDIA_BUCKETS,
        registry=registry,
    )


class MediaCollector(Collector):
    """Yields the media metrics of every room ``rooms()`` returns, at scrape time."""

    def __init__(self, rooms: Callable[[], Iterable[Room]]) -> None:
        self._rooms = rooms

    def describe(self) -> list[Metric]:
        return []  # the families depend on the rooms live at scrape time

    def collect(self) -> Iterator[Metric]:
        pub = ["room", "participant", "kind", "source"]
        leg = ["room", "participant", "publisher", "kind", "source"]

        def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(f"liveclass_media_{name}", doc, labels=labels)

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"liveclass_media_{name}", doc, labels=labels)

        packets_in = counter("packets_received", "RTP packets received from a publisher.", pub)
        bytes_in = counter("payload_bytes_received", "RTP payload bytes from a publisher.", pub)
        lost_in = counter(
            "packets_lost", "Packets from a publisher never received (RTCP's count).", pub
        )
        late_in = counter(
            "packets_late", "Packets from a publisher that came after a newer one.", pub
        )
        asked = counter(
            "keyframe_requests_sent", "Keyframe requests (PLI) sent to a publisher.", pub
        )
        layer_bytes = counter(
            "layer_payload_bytes_received",
            "VP8 payload bytes from a publisher per temporal layer (0 when it marks none).",
            [*pub, "layer"],
        )
        packets_out = counter("packets_sent", "RTP packets forwarded on a leg.", leg)
        bytes_out = counter("payload_bytes_sent", "RTP payload bytes forwarded on a leg.", leg)
        held = counter(
            "packets_held", "Packets not forwarded while a leg waited for a keyframe.", leg
        )
        nacks = counter("nacks_received", "Sequence numbers a leg's receiver asked again.", leg)
        resent = counter("retransmissions", "NACKed packets sent again (RTX where agreed).", leg)
        unrepairable = counter(
            "nacks_unrepairable",
            "NACKed packets a leg sent but could no longer resend (asks a keyframe).",
            leg,
        )
        plis = counter("keyframe_requests_received", "PLI and FIR from a leg's receiver.", leg)
        thinned = counter(
            "packets_thinned",
            "Video packets of temporal layers above a leg's allocation, left out on purpose.",
            leg,
        )
        paused = counter(
            "packets_paused", "Video packets not sent while a leg's allocation paused it.", leg
        )
        layer = gauge(
            "video_layer",
            "The highest temporal layer a leg is sent of a video (2: all; -1: paused).",
            leg,
        )
        rtt = gauge(
            "round_trip_seconds", "A leg's round-trip time, from its receiver reports.", leg
        )
        loss = gauge(
            "fraction_lost", "Share of a leg's packets its receiver lost, last report.", leg
        )
        jitter = gauge("jitter_seconds", "Interarrival jitter a leg's receiver reports.", leg)
        remb = gauge(
            "receiver_estimated_bitrate", "A leg's bandwidth estimate (REMB), bits/s.", leg
        )
        for room in self._rooms():
            for pid, pubs in list(room.publications.items()):
                for p in pubs:
                    labels = [room.room_id, pid, p.kind, p.source]
                    received, lost = p.counts()
                    packets_in.add_metric(labels, p.stats.packets_in)
                    bytes_in.add_metric(labels, p.stats.bytes_in)
                    lost_in.add_metric(labels, lost)
                    late_in.add_metric(labels, p.stats.late_packets)
                    asked.add_metric(labels, p.stats.keyframe_requests)
                    if p.kind == "video":
                        for n, count in enumerate(p.layer_bytes):
                            layer_bytes.add_metric([*labels, str(n)], count)
            for pid, peer in list(room.peers.items()):
                for publisher, slot in peer.send_slots:
                    if publisher is None or slot.source is None:
                        continue
                    labels = [
                        room.room_id,
                        pid,
                        publisher,
                        slot.kind,
                        slot.source.publication.source,
                    ]
                    stats, state = slot.source.stats, slot.sender.state
                    packets_out.add_metric(labels, stats.packets_out)
                    bytes_out.add_metric(labels, stats.bytes_out)
                    held.add_metric(labels, stats.packets_held)
                    nacks.add_metric(labels, state.nacks)
                    resent.add_metric(labels, state.retransmitted)
                    unrepairable.add_metric(labels, state.unrepairable)
                    plis.add_metric(labels, state.keyframe_requests)
                    if slot.kind == "video":
                        thinned.add_metric(labels, stats.packets_thinned)
                        paused.add_metric(labels, stats.packets_paused)
                        layer.add_metric(labels, -1 if slot.layer is None else slot.layer)
                    loss.add_metric(labels, state.fraction_lost)
                    jitter.add_metric(labels, state.jitter)
                    if state.rtt is not None:
                        rtt.add_metric(labels, state.rtt)
                    if state.remb_bps is not None:
                        remb.add_metric(labels, state.remb_bps)
        yield from (packets_in, bytes_in, lost_in, late_in, asked, packets_out, bytes_out)
        yield from (held, nacks, resent, unrepairable, plis, rtt, loss, jitter, remb)
        yield from (layer_bytes, thinned, paused, layer)
