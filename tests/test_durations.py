"""Durations as people write them, both ways: what format_duration writes, parse_duration
reads back exactly (the admin UI's forms are filled with the former and read with the latter)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authserver.platform.durations import format_duration, parse_duration


@given(st.integers(min_value=1, max_value=10**9))
def test_what_is_written_is_read_back(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(("seconds", "written"), [
    (661, "11m 1s"), (600, "10m"), (30 * 86400, "30d"), (93600, "1d 2h"), (59, "59s"),
])  # fmt: skip
def test_durations_are_written_as_people_write_them(seconds, written):
    assert format_duration(seconds) == written


@pytest.mark.parametrize("text", ["", "x", "1w", "-5", "10 m", "1s 2s 3s 4s 5s", "1" * 13])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_the_older_forms_still_parse():
    assert [parse_duration(t) for t in ("600", "90s", "10m", "24h", "30d", "1d2h")] == [
        600, 90, 600, 86400, 2592000, 93600
    ]  # fmt: skip
