"""The bucket arithmetic (GCRA) on the movable clock: bursts, refill, tiers, several keys at
once, refunds, resets, forced counts, and what the RateLimit fields say. Never sleeps."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from authserver.budgets.buckets import Charge, Mode
from authserver.budgets.fields import add_fields
from authserver.budgets.host import HostCounters
from authserver.budgets.store import Counters
from authserver.platform import clock
from authserver.platform.rates import parse_rates


@pytest.fixture
def counters(tmp_path):
    clock.freeze()
    host = HostCounters(tmp_path / "budgets")
    yield Counters(host)
    host.close()


def charge(text: str, key: str = "k") -> Charge:
    return Charge(key, parse_rates(text))


def take(counters, *charges):
    return counters.apply(list(charges), Mode.TAKE)


def test_a_bucket_gives_its_burst_then_one_token_per_interval(counters):
    five = charge("5/minute")
    assert [take(counters, five).allowed for _ in range(6)] == [True] * 5 + [False]
    refused = take(counters, five)
    assert refused.retry_after == pytest.approx(12)
    clock.advance(11.9)
    assert not take(counters, five).allowed
    clock.advance(0.1)
    assert take(counters, five).allowed  # one token back after 60/5 s
    assert not take(counters, five).allowed
    clock.advance(60)
    assert [take(counters, five).allowed for _ in range(6)] == [True] * 5 + [False]


def test_remaining_and_reset_say_what_is_left(counters):
    ten = charge("10/minute")
    first = take(counters, ten).verdicts[0]
    assert first.remaining == 9 and first.tiers[0].reset_seconds == pytest.approx(6)
    for _ in range(8):
        take(counters, ten)
    last = take(counters, ten).verdicts[0]
    assert last.remaining == 0 and last.is_spent
    assert last.tiers[0].reset_seconds == pytest.approx(60)
    clock.advance(30)
    assert take(counters, ten).verdicts[0].remaining == 4  # 5 back, one taken


def test_a_burst_other_than_the_rate(counters):
    bucket = charge("60/minute burst 10")
    assert [take(counters, bucket).allowed for _ in range(11)] == [True] * 10 + [False]
    clock.advance(1)
    assert take(counters, bucket).allowed and not take(counters, bucket).allowed


def test_every_tier_must_allow_and_a_refusal_spends_none(counters):
    tiers = charge("2/minute;3/hour")
    assert [take(counters, tiers).allowed for _ in range(3)] == [True, True, False]
    clock.advance(30)  # the minute tier gave one back
    assert take(counters, tiers).allowed
    refused = take(counters, tiers)
    assert not refused.allowed
    hour = refused.verdicts[0].tiers[1]
    assert hour.remaining == 0 and hour.retry_after == pytest.approx(1200 - 30)
    clock.advance(60)
    # The refused attempts took nothing from the minute tier; the hour tier still refuses.
    again = take(counters, tiers).verdicts[0]
    assert again.tiers[0].remaining == 2 and again.tiers[1].retry_after > 0


def test_a_charge_over_several_keys_is_all_or_nothing(counters):
    a, b = charge("3/minute", "a"), charge("1/minute", "b")
    assert take(counters, b).allowed
    refused = take(counters, a, b)
    assert not refused.allowed
    assert refused.verdicts[0].allowed and not refused.verdicts[1].allowed
    assert take(counters, a).verdicts[0].remaining == 2  # a gave nothing to the refused charge


def test_refund_and_reset(counters):
    three = charge("3/minute")
    take(counters, three)
    taken = take(counters, three)
    assert taken.verdicts[0].remaining == 1
    counters.apply([three], Mode.REFUND)
    assert take(counters, three).verdicts[0].remaining == 1  # refunded, then taken again
    counters.apply([three], Mode.RESET)
    assert take(counters, three).verdicts[0].remaining == 2
    counters.apply([three], Mode.REFUND)
    counters.apply([three], Mode.REFUND)  # never more than full
    assert take(counters, three).verdicts[0].remaining == 2


def test_force_counts_beyond_the_bucket_and_says_how_far(counters):
    two = charge("2/minute")
    overs = [counters.apply([two], Mode.FORCE).verdicts[0].over for _ in range(5)]
    assert overs == [0, 0, 1, 2, 3]
    assert take(counters, two).retry_after == pytest.approx(4 * 30)
    clock.advance(4 * 30)
    assert take(counters, two).allowed


def test_a_full_bucket_needs_no_slot_and_starts_afresh(tmp_path, counters):
    one = charge("1/second")
    assert take(counters, one).allowed
    clock.advance(5)
    assert take(counters, one).allowed and not take(counters, one).allowed


def test_ratelimit_fields(counters):
    headers = Headers()
    verdict = take(counters, charge("10/minute")).verdicts[0]
    spent = take(counters, charge("1/minute", "x"), charge("1/minute", "x"))
    add_fields(headers, [("device-ip", verdict), ("par-ip", spent.verdicts[1])])
    assert headers["RateLimit-Policy"] == '"device-ip";q=10;w=60, "par-ip";q=1;w=60'
    assert headers["RateLimit"] == '"device-ip";r=9;t=6, "par-ip";r=0;t=60'
    several = Headers()
    add_fields(several, [("sign-in", take(counters, charge("5/minute;20/hour", "s")).verdicts[0])])
    assert several["RateLimit-Policy"] == '"sign-in-60";q=5;w=60, "sign-in-3600";q=20;w=3600'
    assert several["RateLimit"] == '"sign-in-60";r=4;t=12, "sign-in-3600";r=19;t=180'


@pytest.mark.parametrize(
    ("text", "problem"),
    [("lots", "not a rate"), ("0/minute", "positive"), ("1/minute burst 0", "positive"),
     ("1/second;1/minute;1/hour;1/day;2/day", "at most 4"), ("", "no rate")],
)  # fmt: skip
def test_bad_rates_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_rates(text)
