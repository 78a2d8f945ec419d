"""The access line leaves the request's thread: the record is queued, one writer thread per
process formats and writes the lines in order, a full queue drops and counts instead of making
the request wait, and a stop writes out what is queued (the served process's stop:
tests/e2e/test_served_access_log.py)."""

from __future__ import annotations

import io
import json
import logging
import threading

from authserver.platform.logging_setup import AccessLineFormatter, QueuedAccessLines
from authserver.platform.metrics import access_lines_dropped


def record(n: int) -> logging.LogRecord:
    line = logging.LogRecord("authserver.access", logging.INFO, __file__, 0, "%s %s %s",
                             ("POST", "/oauth/token", 200), None)  # fmt: skip
    line.method, line.path, line.status = "POST", "/oauth/token", 200
    line.duration_ms, line.client, line.request_id = 1.5, "127.0.0.1", f"line-{n:06d}"
    return line


class Formatting(AccessLineFormatter):
    """The JSON formatter, noting the threads it formats on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        self.threads.add(threading.current_thread().name)
        return super().format(record)


def stream_handler(formatter: logging.Formatter) -> tuple[logging.StreamHandler, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    return handler, out


def dropped() -> float:
    (family,) = access_lines_dropped.collect()
    return next(s.value for s in family.samples if s.name.endswith("_total"))


def test_lines_are_formatted_off_the_callers_thread_in_order_and_written_by_the_stop():
    formatter = Formatting()
    writes_to, out = stream_handler(formatter)
    queued = QueuedAccessLines(writes_to)
    records = [record(n) for n in range(2000)]
    for each in records:
        queued.handle(each)
    assert queued.stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == [f"line-{n:06d}" for n in range(2000)]
    assert formatter.threads == {"authserver-access-log"}
    # The very line the formatter made on the caller's thread, the record's own time included
    # (when the request ended, not when the line was written).
    assert out.getvalue().splitlines()[7] == AccessLineFormatter().format(records[7])


def test_a_full_queue_drops_and_counts_and_the_caller_never_waits():
    writing, release = threading.Event(), threading.Event()

    class Stalled(logging.StreamHandler):
        """A stderr whose reader has stopped reading, until ``release``."""

        def emit(self, record: logging.LogRecord) -> None:
            writing.set()
            release.wait(30)
            super().emit(record)

    out = io.StringIO()
    writes_to = Stalled(out)
    writes_to.setFormatter(AccessLineFormatter())
    queued = QueuedAccessLines(writes_to, capacity=3)
    before = dropped()
    queued.handle(record(0))
    assert writing.wait(30)  # the writer holds line 0; the queue is empty again
    for n in range(1, 7):
        queued.handle(record(n))  # 1-3 are queued, 4-6 find it full
    assert dropped() - before == 3
    release.set()
    assert queued.stop()
    written = [json.loads(line)["request_id"] for line in out.getvalue().splitlines()]
    assert written == [f"line-{n:06d}" for n in range(4)]


def test_after_the_stop_a_line_is_written_by_its_caller():
    writes_to, out = stream_handler(AccessLineFormatter())
    queued = QueuedAccessLines(writes_to)
    queued.handle(record(1))
    assert queued.stop()
    queued.handle(record(2))  # a request finishing while its process ends: not lost
    written = [json.loads(line)["request_id"] for line in out.getvalue().splitlines()]
    assert written == ["line-000001", "line-000002"]


def test_a_stop_does_not_wait_for_ever_on_a_stalled_stream():
    release, ended = threading.Event(), threading.Event()

    class Stalled(logging.StreamHandler):
        def emit(self, record: logging.LogRecord) -> None:
            release.wait(30)
            if record.request_id == "line-000002":
                ended.set()

    queued = QueuedAccessLines(Stalled(io.StringIO()))
    for n in range(3):
        queued.handle(record(n))
    try:
        assert queued.stop(timeout=0.2) is False  # Granian's master would wait for ever
    finally:
        release.set()
    assert ended.wait(30)  # the writer then writes the rest and ends (no thread left behind)
