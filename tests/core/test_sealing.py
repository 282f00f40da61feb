"""AES-GCM at rest: sealed files and texts open only with their key, and only unaltered."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from core.sealing import (
    CHUNK,
    KeyRing,
    SealedWriter,
    SealError,
    generate_key,
    is_sealed,
    open_file,
    open_text,
    read_maybe_sealed,
    reseal_file,
    seal_text,
    text_key,
)

K1, K2 = generate_key(), generate_key()
RING = KeyRing.parse(f"k1:{K1}")


def _sealed(path: Path, plain: bytes, ring: KeyRing = RING, pieces: int = 7) -> None:
    """Written in uneven pieces with a flush after each, as the recorder writes."""
    with path.open("xb") as raw:
        writer = SealedWriter(raw, ring)
        step = max(1, len(plain) // pieces)
        for at in range(0, len(plain), step):
            writer.write(plain[at : at + step])
            writer.flush()
        writer.close()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_a_sealed_file_opens_to_what_was_written_and_holds_none_of_it(
    tmp_path: Path, size: int
) -> None:
    plain = secrets.token_bytes(size)
    path = tmp_path / "a.opus.ogg"
    _sealed(path, plain)
    assert is_sealed(path)
    assert open_file(path, RING) == plain
    if size >= 64:
        assert plain[:32] not in path.read_bytes()


def test_a_changed_byte_or_a_missing_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "a"
    _sealed(path, b"x" * 5000)
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SealError, match="fails its check"):
        open_file(path, RING)
    other = tmp_path / "b"
    _sealed(other, b"hello")
    with pytest.raises(SealError, match="add it back"):
        open_file(other, KeyRing.parse(f"k2:{K2}"))


def test_a_file_cut_short_opens_only_when_asked_to_and_then_to_what_was_sealed(
    tmp_path: Path,
) -> None:
    """The recorder's process died: what was flushed is there, the last chunk is not."""
    path = tmp_path / "a"
    with path.open("xb") as raw:
        writer = SealedWriter(raw, RING)
        writer.write(b"first ")
        writer.flush()
        writer.write(b"second")
        writer.flush()
        # no close: no last chunk
    with pytest.raises(SealError, match="cut short"):
        open_file(path, RING)
    assert open_file(path, RING, complete=False) == b"first second"
    assert read_maybe_sealed(path, RING) == b"first second"
    path.write_bytes(path.read_bytes()[:-5])  # and cut inside the second chunk
    assert open_file(path, RING, complete=False) == b"first "


def test_chunks_cannot_be_reordered_or_dropped_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "a"
    _sealed(path, b"a" * 100 + b"b" * 100, pieces=2)
    data = path.read_bytes()
    header = 4 + 1 + 2 + 8
    first_len = int.from_bytes(data[header : header + 4], "big")
    first = data[header : header + 4 + first_len]
    rest = data[header + 4 + first_len :]
    path.write_bytes(data[:header] + rest + first)
    with pytest.raises(SealError):
        open_file(path, RING)


def test_rotation_reseals_under_the_first_key_and_leaves_current_files_alone(
    tmp_path: Path,
) -> None:
    plain_file, old_file = tmp_path / "plain.ogg", tmp_path / "old.ogg"
    plain_file.write_bytes(b"OggS before keys were set")
    _sealed(old_file, b"OggS under k1")
    rotated = KeyRing.parse(f"k2:{K2},k1:{K1}")
    assert reseal_file(plain_file, rotated) and reseal_file(old_file, rotated)
    assert not reseal_file(old_file, rotated)  # under k2 already
    only_new = KeyRing.parse(f"k2:{K2}")
    assert open_file(plain_file, only_new) == b"OggS before keys were set"
    assert open_file(old_file, only_new) == b"OggS under k1"
    assert read_maybe_sealed(tmp_path / "plain.ogg", only_new).startswith(b"OggS")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_sealed_text_names_its_key_and_plain_text_reads_as_it_is() -> None:
    sealed = seal_text("Five sixths, I think.", RING)
    assert sealed.startswith("lcs1:k1:") and "sixths" not in sealed
    assert text_key(sealed) == "k1" and text_key("plain") is None
    assert open_text(sealed, RING) == "Five sixths, I think."
    assert open_text("written before keys", RING) == "written before keys"
    assert seal_text("same", RING) != seal_text("same", RING)  # a fresh nonce each time
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        open_text(tampered, RING)
    with pytest.raises(SealError, match="add it back"):
        open_text(sealed, KeyRing.parse(f"k2:{K2}"))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("nocolon", "ID:KEY"),
        (f":{K1}", "ID:KEY"),
        ("k1:c2hvcnQ=", "5 bytes, AES-256 needs 32"),
        (f"k1:{K1},k1:{K2}", "twice"),
        ("k1:***", "base64"),
    ],
)
def test_a_bad_key_setting_says_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        KeyRing.parse(value)


def test_no_keys_means_nothing_is_sealed() -> None:
    empty = KeyRing.parse(None)
    assert not empty.on and KeyRing.parse(" , ").current is None
    with pytest.raises(SealError, match="LIVECLASS_ENCRYPTION_KEYS"):
        seal_text("x", empty)
