"""Logging on stderr (structlog over the standard library), each line with its time, level,
logger and the request id: one JSON object per line for a log collector, or structlog's console
renderer for a person at a terminal (``AUTHSERVER_LOG_FORMAT``: auto picks the console format
when stderr is a terminal). Libraries that would print secrets are held back.

Authlib logs issued tokens and client ids at DEBUG (``log.debug("Issue token %r ...")``), and
SQLAlchemy's engine logs statements with their parameters at INFO; so these loggers never go
below WARNING, whatever level the server runs at. The access log is ours (``authserver.access``):
method, path without the query string (a token must not reach a log), status and duration. The
request only makes its record and queues it; one thread per process formats and writes the lines
(``QueuedAccessLines``), so a line reaches stderr a moment after its answer has left.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from typing import TextIO

import structlog

from authserver.platform.ip_privacy import minimised_ip
from authserver.platform.metrics import access_lines_dropped
from authserver.platform.process_exit import at_exit
from authserver.platform.request_id import current_request_id

_QUIET_LIBRARIES = ("authlib", "sqlalchemy.engine", "urllib3")
_configured = False

access_log = logging.getLogger("authserver.access")


def _add_request_id(logger, method: str, event_dict: dict) -> dict:  # noqa: ANN001
    event_dict.setdefault("request_id", current_request_id() or "-")
    return event_dict


LOG_FORMATS = ("auto", "json", "console")


def resolved_format(setting: str) -> str:
    """``json`` or ``console``: auto is the console format at a terminal, JSON otherwise."""
    if setting != "auto":
        return setting
    return "console" if sys.stderr.isatty() else "json"


def _shared_processors() -> list:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _add_request_id,
    ]


def json_formatter() -> logging.Formatter:
    """The formatter of every handler, ours and Granian's (``serve`` hands it to Granian)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )


def _drop_absent_request_id(logger, method: str, event_dict: dict) -> dict:  # noqa: ANN001
    # Outside a request JSON lines keep the key ("-") for a collector; a person needs no "-".
    if event_dict.get("request_id") == "-":
        del event_dict["request_id"]
    return event_dict


def console_formatter() -> logging.Formatter:
    """The same events for a person: time, level, event, then the other keys (coloured only
    when stderr is a terminal, so a redirected file holds no escape codes)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_absent_request_id,
            # plain_traceback: structlog's default (rich, when installed) prints every frame's
            # local variables, secrets among them; a JSON line never did.
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(),
                sort_keys=True,
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ],
    )


_FORMATTERS = {"json": json_formatter, "console": console_formatter}


class AccessLineFormatter(logging.Formatter):
    """The access line as one JSON object with the same keys as every other line, written by a
    single ``json.dumps``: it is formatted on every request, where structlog's processor chain
    cost about 0.1 ms (bench/README.md)."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return json.dumps(
            {
                "client": record.client,
                "duration_ms": record.duration_ms,
                "event": record.getMessage(),
                "level": "info",
                "logger": record.name,
                "method": record.method,
                "path": record.path,
                "request_id": record.request_id,
                "status": record.status,
                "timestamp": when.isoformat().replace("+00:00", "Z"),
            }
        )


class ConsoleAccessLineFormatter(logging.Formatter):
    """The access line for a person: time, request line, status, duration, request id."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S")
        took = "" if record.duration_ms is None else f" {record.duration_ms}ms"
        # The path is the client's (percent-decoded): escaped, so that it cannot start a line
        # of its own or send a terminal escape sequence, as JSON escapes it.
        path = record.path.encode("unicode_escape").decode("ascii")
        line = f"{record.method} {path} {record.status}"
        return f"{when} {line}{took} {record.client or '-'} [{record.request_id}]"


#: The access lines a process holds for its writer thread, at most: a few seconds of a worker's
#: full load, a few MiB of records. A line that finds the queue full is dropped and counted
#: (``authserver_access_lines_dropped_total``) instead of holding up its request: an access log
#: whose reader has stalled (a full pipe) must not stop token issuance, and what happened
#: stays in the audit trail and the request metrics. (Written on the request's thread, as
#: before, a stalled reader held every request that logged.)
ACCESS_QUEUE_LINES = 8192
#: How long a stopping process waits for its writer to write what is queued.
ACCESS_DRAIN_SECONDS = 5.0
#: Under load the writer wakes at most this often, and writes what gathered meanwhile in a few
#: writes: one wake-up and one write per line cost more than the line (bench/README.md). An
#: idle writer wakes at the next line, so a line waits at most this long for its write.
ACCESS_BATCH_SECONDS = 0.02
#: A pipe takes a write of at most this many bytes whole (POSIX PIPE_BUF), so a batch is written
#: in pieces of whole lines no longer than this: the workers and the master share one stderr,
#: and a longer write could be interleaved with another process's line.
_ATOMIC_WRITE_BYTES = 4096


class QueuedAccessLines(logging.handlers.QueueHandler):
    """The access logger's handler: the record goes on this process's bounded queue, and one
    writer thread (a ``QueueListener``) formats and writes the lines in order. The request
    thread pays for the record and a put; the JSON, the time formatting and the write to stderr
    are the writer's (bench/README.md, "The access line off the request's thread").

    The writer starts with the first line a process writes, so the ``serve`` master (which
    answers no request) starts none, and each worker starts its own after the fork. It is
    stopped, its queue written out, when the process ends (``process_exit.at_exit``: also at the
    end of a Granian worker, which exits without running atexit's functions)."""

    def __init__(self, writes_to: logging.Handler, capacity: int = ACCESS_QUEUE_LINES) -> None:
        super().__init__(queue.Queue(capacity))
        self.writes_to = writes_to
        self._capacity = capacity
        self._writer: _AccessLineWriter | None = None
        self._stopped = False
        # A forked child has no writer thread (threads do not survive a fork): it starts its
        # own, on a new queue, with its first line.
        os.register_at_fork(after_in_child=self._forget_writer)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # QueueHandler's own prepare formats the message here, on the caller's thread: the cost
        # this handler exists to move. An access record carries plain values only (no
        # exception, no object to render later), so it is handed over as it is.
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        # Called under this handler's lock (Handler.handle): one thread starts the writer.
        if self._writer is None:
            if self._stopped:  # the process is ending: written here and now, as before
                self.writes_to.handle(record)
                self.writes_to.flush()
                return
            self._start_writer()
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            access_lines_dropped.inc()

    def stop(self, timeout: float = ACCESS_DRAIN_SECONDS) -> bool:
        """Write what is queued and stop the writer; later lines are written by their caller.
        False if the writer did not finish within ``timeout`` (a stalled stderr)."""
        with self.lock:  # no line is queued behind the writer's last
            writer, self._writer, self._stopped = self._writer, None, True
        return writer.stop(timeout) if writer is not None else True

    def _start_writer(self) -> None:
        self._writer = _AccessLineWriter(self.queue, self.writes_to)
        self._writer.start()
        at_exit(self.stop)

    def _forget_writer(self) -> None:
        self.queue = queue.Queue(self._capacity)
        self._writer, self._stopped = None, False


class BatchedStreamHandler(logging.StreamHandler):
    """A ``StreamHandler`` that writes when flushed: the writer thread formats the lines of a
    batch, then writes them together (in pieces of at most ``_ATOMIC_WRITE_BYTES``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:
            lines, self._lines = self._lines, []
            piece: list[str] = []
            size = 0
            try:
                for line in lines:  # counted in characters: the JSON lines are ASCII
                    if piece and size + len(line) > _ATOMIC_WRITE_BYTES:
                        self.stream.write("".join(piece))
                        self.stream.flush()
                        piece, size = [], 0
                    piece.append(line)
                    size += len(line)
                if piece:
                    self.stream.write("".join(piece))
                self.stream.flush()
            except Exception:
                # Reported as StreamHandler.emit reports it, never raised into the writer's
                # loop; a stream closed with nothing left to write for it is no loss.
                if lines:
                    self.handleError(_UNWRITTEN)


#: What ``handleError`` names when a batch could not be written.
_UNWRITTEN = logging.makeLogRecord({"name": "authserver.access", "msg": "access lines unwritten"})


class _AccessLineWriter(logging.handlers.QueueListener):
    """The one thread of a process that formats and writes its access lines, in queue order."""

    def dequeue(self, block: bool) -> logging.LogRecord | None:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            pass
        # The queue is empty: write the batch, then let the next one gather. While this thread
        # sleeps, a request's put wakes nobody.
        for handler in self.handlers:
            handler.flush()
        time.sleep(ACCESS_BATCH_SECONDS)
        return self.queue.get(block)

    def start(self) -> None:
        # QueueListener.start with a name, for a person reading a thread dump (py-spy).
        self._thread = threading.Thread(target=self._monitor, name="authserver-access-log",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        # QueueListener.stop with a bound: a stalled stderr must not keep a worker from ending
        # (Granian's master waits for its workers without a limit).
        thread, self._thread = self._thread, None
        try:
            self.queue.put(self._sentinel, timeout=timeout)
        except queue.Full:
            return False
        thread.join(timeout)
        if thread.is_alive():  # still writing (its lock held): leave it to the process's end
            return False
        for handler in self.handlers:  # the last batch, if the sentinel came straight after it
            handler.flush()
        return True


def granian_log_config(log_format: str = "json") -> dict:
    """Granian's own lines (start, workers, stop) in the server's format, on stderr."""
    factory = f"authserver.platform.logging_setup.{resolved_format(log_format)}_formatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ours": {"()": factory}},
        "handlers": {
            "console": {
                "formatter": "ours",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },  # fmt: skip
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(level: str, log_format: str = "json") -> None:
    global _configured
    root = logging.getLogger()
    numeric = getattr(logging, level.upper())
    chosen = resolved_format(log_format)
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_FORMATTERS[chosen]())
        root.addHandler(handler)
        _configured = True
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # Security events and the access log are always written, whatever the level.
    logging.getLogger("authserver.audit").setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)
    if not any(isinstance(h, QueuedAccessLines) for h in access_log.handlers):
        writes_to = BatchedStreamHandler(sys.stderr)
        writes_to.setFormatter(
            AccessLineFormatter() if chosen == "json" else ConsoleAccessLineFormatter()
        )
        access_log.addHandler(QueuedAccessLines(writes_to))
        access_log.propagate = False


#: Paths that carry a secret of their own (a password-reset link's token): logged without it.
_SECRET_PATHS = ("/account/reset/",)


def loggable_path(path: str) -> str:
    """``path`` as a log may hold it: without the secret some paths carry."""
    for prefix in _SECRET_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "…"
    return path


def write_access_line(
    method: str, path: str, status: int, duration_ms: float | None, client: str | None,
    request_id: str,
) -> None:  # fmt: skip
    """The access line: method, path without its query (a token must not reach a log), status.

    The record is made here and handed to the logger's handlers directly: ``Logger.info`` would
    also look up the caller's frame, which no line of ours prints, on every request."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    path = loggable_path(path)[:512]
    record = logging.LogRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None
    )
    record.request_id = request_id
    record.method = method
    record.path = path
    record.status = status
    record.duration_ms = round(duration_ms, 2) if duration_ms is not None else None
    record.client = minimised_ip(client)
    access_log.handle(record)
