"""The bots' pre-encoded video: three temporal layers that really decode alone."""

from __future__ import annotations

import fractions

import av
import numpy as np

from sfu.passthrough import EncodedFrame, Vp8Packer
from sfu.rtp_rewrite import Vp8Descriptor
from sfu.synthetic import TEMPORAL_PATTERN, video_loop


def _decode(frames: tuple[bytes, ...], keep: set[int]) -> dict[int, np.ndarray]:
    decoder = av.CodecContext.create("vp8", "r")
    out = {}
    for n, data in enumerate(frames):
        if n in keep:
            for picture in decoder.decode(av.Packet(data)):
                out[n] = picture.to_ndarray()
    return out


def test_each_layer_decodes_alone_and_sync_frames_are_switch_points() -> None:
    """Given layers 0, or 0-1, or moved up at a sync frame: the same pictures as given all."""
    loop = video_loop(seconds=2, size=(160, 120))
    assert loop.layers is not None and len(loop.layers) == len(loop.frames)
    assert loop.keyframes == (0,)
    frames = loop.frames
    everything = _decode(frames, set(range(len(frames))))
    for top in (0, 1):
        keep = {n for n, (tid, _) in enumerate(loop.layers) if tid <= top}
        thinned = _decode(frames, keep)
        assert all(np.array_equal(thinned[n], everything[n]) for n in keep)
    for start, (tid, sync) in enumerate(loop.layers[8:16], 8):
        keep = {
            n
            for n, (t, _) in enumerate(loop.layers)
            if (n < start and t == 0) or (n >= start and t <= 2)
        }
        moved_up = _decode(frames, keep)
        same = all(np.array_equal(moved_up[n], everything[n]) for n in keep if n >= start)
        if sync or tid == 0:
            assert same, f"frame {start} is marked as a switch point but needs frames before it"


def test_the_packer_marks_every_packet_with_its_layer() -> None:
    packer = Vp8Packer()
    seen = []
    for n in range(8):
        layer = TEMPORAL_PATTERN[n % 4]
        frame = EncodedFrame(
            b"\x10" + bytes(3000), n, fractions.Fraction(1, 90_000), n == 0, None, layer
        )
        payloads, _ = packer.pack(frame)
        assert len(payloads) == 3  # 3 kB in packets of at most 1300 bytes
        descriptors = [Vp8Descriptor.parse(p) for p in payloads]
        assert all(d is not None and d.tid == layer[0] for d in descriptors)
        first = descriptors[0]
        assert first is not None and first.start
        seen.append((first.tid, first.layer_sync, first.tl0picidx, first.picture_id))
    assert [s[0] for s in seen] == [0, 2, 1, 2, 0, 2, 1, 2]
    assert [s[1] for s in seen] == [False, True, True, False] * 2
    assert [s[2] for s in seen] == [1, 1, 1, 1, 2, 2, 2, 2]  # counts the layer-0 frames
    assert [s[3] for s in seen] == list(range(8))
