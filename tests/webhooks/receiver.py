"""A webhook receiver for the tests: a real HTTPS server on loopback (``tests.outbound.listeners``
with a certificate the test makes) that keeps every request it gets and answers as told, and
verifies Standard Webhooks signatures with the reference ``standardwebhooks`` package."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable

from standardwebhooks import Webhook, WebhookVerificationError

from tests.outbound.listeners import Certificates, Listener


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict:
        return json.loads(self.body)

    def verifies(self, secret: str) -> bool:
        """The reference implementation's verdict (signature, and the timestamp within its
        5 minutes of the real time)."""
        try:
            Webhook(secret).verify(self.body.decode(), self.headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True

    def signed_by(self, secret: str) -> bool:
        """Whether one of the signatures is ``secret``'s, by the reference implementation's
        signing, whatever the timestamp (for tests that move the clock far ahead)."""
        stamp = dt.datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), dt.UTC)
        expected = Webhook(secret).sign(self.message_id, stamp, self.body.decode())
        presented = self.headers["webhook-signature"].split(" ")
        return any(hmac.compare_digest(expected, p) for p in presented)


#: Decides the answer to a request: (status line, headers).
Answer = Callable[[Received], tuple[str, dict[str, str]]]


def always(status: str, **headers: str) -> Answer:
    return lambda received: (status, headers)


class Receiver:
    """``with Receiver(certificates, answer) as receiver:`` at ``receiver.url``; without
    certificates it speaks plain http (which the server sends to loopback in development)."""

    def __init__(self, certificates: Certificates | None, answer: Answer | None = None,
                 host: str = "127.0.0.1") -> None:  # fmt: skip
        self.answer = answer or always("200 OK")
        self.received: list[Received] = []
        self.hang = threading.Event()  # set: accept, read, never answer
        self._lock = threading.Lock()
        tls = certificates.server_context() if certificates is not None else None
        self._listener = Listener(self._handle, tls=tls)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self._listener.port}/hooks/security"

    def __enter__(self) -> Receiver:
        self._listener.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.hang.clear()
        self._listener.__exit__(*exc)

    def _handle(self, conn: socket.socket, head: bytes) -> None:
        top, _, rest = head.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        received = Received(path, headers, rest[:length])
        with self._lock:
            self.received.append(received)
        if self.hang.is_set():
            time.sleep(30)
            return
        status, extra = self.answer(received)
        lines = [f"HTTP/1.1 {status}", "Content-Length: 2", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"ok")

    def by_message(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        for received in list(self.received):
            grouped.setdefault(received.message_id, []).append(received)
        return grouped

    def wait_for(self, predicate: Callable[[], bool], seconds: float = 30) -> None:
        """Poll a real-world condition (a served process delivering) with a deadline."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"not within {seconds} s; received {len(self.received)} requests")
