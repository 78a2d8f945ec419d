"""The API-key format: recognisable prefix, public id, ≥ 256-bit secret, offline checksum."""

from __future__ import annotations

import math
import re

import pytest

from authserver.apikeys import format as keyformat


def test_generated_keys_parse_and_carry_enough_entropy():
    key, parts = keyformat.generate("ask")
    assert re.fullmatch(r"ask_[0-9A-Za-z]{16}_[0-9A-Za-z]{50}", key)
    assert keyformat.parse(key, "ask") == parts
    assert len(parts.secret) * math.log2(62) >= 256


def test_keys_are_unique():
    assert len({keyformat.generate("ask")[0] for _ in range(200)}) == 200


@pytest.mark.parametrize("position", [4, 10, 21, 40, -7, -1])
def test_a_typo_anywhere_fails_the_checksum(position):
    key, _ = keyformat.generate("ask")
    chars = list(key)
    chars[position] = "A" if chars[position] != "A" else "B"
    assert keyformat.parse("".join(chars), "ask") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ask",
        "ask_",
        "ask__",
        "xyz_" + "a" * 16 + "_" + "b" * 50,
        "ask_short_secret",
        "ask_" * 60,
    ],
)
def test_malformed_keys_do_not_parse(text):
    assert keyformat.parse(text, "ask") is None


def test_another_prefix_does_not_parse():
    key, _ = keyformat.generate("corp")
    assert keyformat.parse(key, "ask") is None
    assert keyformat.parse(key, "corp") is not None


def test_masked_shows_prefix_id_and_last4_only():
    key, parts = keyformat.generate("ask")
    masked = keyformat.masked("ask", parts.key_id, key[-4:])
    assert masked == f"ask_{parts.key_id}_…{key[-4:]}"
    assert parts.secret not in masked
