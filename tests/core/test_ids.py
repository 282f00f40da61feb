"""Ids: prefixed, unique, and sorted by creation time."""

import re

import pytest

from core.ids import ID_PATTERN, new_id


def test_id_has_prefix_and_fixed_shape() -> None:
    """An id names its kind and matches the documented pattern."""
    value = new_id("ses")
    assert value.startswith("ses_")
    assert re.match(ID_PATTERN, value)


def test_ids_sort_by_creation_time() -> None:
    """Later ids sort after earlier ones, so B-tree inserts stay local."""
    ids = [new_id("ses", at_ms=ms) for ms in (1_000, 2_000, 3_000_000_000_000)]
    assert ids == sorted(ids)


def test_ids_are_unique() -> None:
    """Ids made in the same millisecond still differ."""
    assert len({new_id("usr", at_ms=5) for _ in range(1000)}) == 1000


def test_bad_prefix_is_refused() -> None:
    """A prefix that would break the pattern is an error that says what is allowed."""
    with pytest.raises(ValueError, match="2-5 lowercase letters"):
        new_id("Session")
