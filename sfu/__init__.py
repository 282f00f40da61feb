"""The media plane: peers, forwarding without transcoding, recording (live media issue)."""

__all__: list[str] = []
