"""Where budgets are counted: the host table shared by processes (a real flock across real
processes), its eviction and its file; Redis, which must answer exactly as the host table does;
and the fall back to the host table while Redis is unreachable, with no error."""

from __future__ import annotations

import multiprocessing
import os
import random
import stat
from concurrent.futures import ProcessPoolExecutor

from authserver.budgets.buckets import Charge, Mode
from authserver.budgets.host import HostCounters
from authserver.budgets.store import Counters, RedisCounters
from authserver.platform import clock
from authserver.platform.rates import parse_rates
from authserver.platform.redis_link import RedisLink
from tests.redis_server import redis_url  # noqa: F401 (fixture)
from tests.services import free_port

NOW = 1_900_000_000.0


def _takes(path: str, count: int) -> int:
    """In another process: how many of ``count`` takes the shared budget allowed."""
    counters = HostCounters(__import__("pathlib").Path(path))
    rates = parse_rates("100/hour")
    return sum(
        counters.apply(NOW, [Charge("shared", rates)], Mode.TAKE).allowed for _ in range(count)
    )


def test_processes_share_one_budget_and_never_overspend_it(tmp_path):
    path = str(tmp_path / "budgets")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=spawn) as pool:
        allowed = list(pool.map(_takes, [path] * 4, [60] * 4))
    assert sum(allowed) == 100  # 240 attempts at once in 4 processes, 100 in the bucket
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_two_mappings_of_the_file_see_each_other(tmp_path):
    one, two = HostCounters(tmp_path / "b"), HostCounters(tmp_path / "b")
    rates = parse_rates("3/minute")
    assert one.apply(NOW, [Charge("k", rates)], Mode.TAKE).verdicts[0].remaining == 2
    assert two.apply(NOW, [Charge("k", rates)], Mode.TAKE).verdicts[0].remaining == 1


def test_a_flood_of_new_keys_evicts_the_least_used_never_the_busiest(tmp_path):
    counters = HostCounters(tmp_path / "b", slots=8)  # one probe window: every key collides
    busy, once = parse_rates("10/day"), parse_rates("1000/day")
    for _ in range(9):
        counters.apply(NOW, [Charge("attacker", busy)], Mode.TAKE)
    for n in range(200):
        counters.apply(NOW, [Charge(f"random-{n}", once)], Mode.TAKE)
    assert counters.apply(NOW, [Charge("attacker", busy)], Mode.TAKE).verdicts[0].remaining == 0
    assert not counters.apply(NOW, [Charge("attacker", busy)], Mode.TAKE).allowed


def test_a_file_of_another_layout_is_started_afresh(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(b"something else")
    counters = HostCounters(path)
    assert counters.apply(NOW, [Charge("k", parse_rates("1/minute"))], Mode.TAKE).allowed
    assert path.stat().st_size == 64 + 65536 * 64


def _script(counters, seed: int) -> list:
    """A random sequence of charges on a few keys; what each step answered."""
    rng = random.Random(seed)
    rates = [parse_rates(t) for t in ("3/minute", "2/second;5/minute", "10/hour burst 4")]
    now, answers = NOW, []
    for _ in range(300):
        now += rng.choice([0, 0, 0.5, 3, 20, 61])
        charges = [
            Charge(f"k{rng.randrange(3)}-{i}", rates[i], cost=rng.choice([1, 1, 2]))
            for i in rng.sample(range(3), rng.choice([1, 2]))
        ]
        outcome = counters.apply(now, charges, rng.choice(list(Mode)))
        answers.append((outcome.allowed, [
            (v.allowed, [(t.remaining, round(t.reset_seconds, 6), round(t.retry_after, 6),
                          t.over) for t in v.tiers]) for v in outcome.verdicts
        ]))  # fmt: skip
    return answers


def test_redis_answers_exactly_as_the_host_table(tmp_path, redis_url):  # noqa: F811
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    host = HostCounters(tmp_path / "b")
    in_redis = RedisCounters(RedisLink(redis_url))
    for seed in range(3):
        assert _script(in_redis, seed) == _script(host, seed)
        redis.Redis.from_url(redis_url).flushdb()
        host = HostCounters(tmp_path / f"b{seed}")


def test_redis_keys_hold_no_email_and_expire(redis_url):  # noqa: F811
    import redis

    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    counters = Counters(None, RedisLink(redis_url))
    counters.apply([Charge("sign-in|ada@example.com", parse_rates("5/minute"))], Mode.TAKE,
                   now=clock.now().timestamp())  # fmt: skip
    (key,) = connection.keys("authserver:budget:*")
    assert b"ada" not in key and 0 < connection.pttl(key) <= 13_000


def test_while_redis_is_unreachable_the_host_counts_and_nothing_fails(tmp_path):
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0")
    counters = Counters(HostCounters(tmp_path / "b"), link)
    rates = parse_rates("2/minute")
    answers = [counters.apply([Charge("k", rates)], Mode.TAKE).allowed for _ in range(3)]
    assert answers == [True, True, False]  # the host's budget, from the first call on
    assert link.is_degraded
