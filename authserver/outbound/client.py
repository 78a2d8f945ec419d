"""Sending one request: to the address that was checked, within a total deadline, at most a
size cap read, no redirect followed.

- The host is resolved here (within the deadline) and every address it resolves to is checked
  (``OutboundPolicy.check_address``); the connection goes to one of those addresses and the TLS
  handshake names the host (SNI, certificate checked against it). Nothing resolves the name a
  second time, so there is no window for DNS rebinding between check and connect.
- The deadline covers everything: resolution, connection, TLS, sending, the status line,
  headers and body. A watchdog closes the socket when it passes, so a host that answers one byte
  every few seconds cannot hold a thread longer than the deadline (a socket timeout alone
  applies per read).
- At most ``max_bytes`` of body are read (cap + 1 tells "too large"); a declared
  ``Content-Length`` beyond the cap is refused before reading.
- A 3xx is an answer like any other: its ``Location`` is never followed.
- At most ``PER_DESTINATION`` requests to one host and port at once per process; beyond that the
  request fails at once (``busy``) rather than waiting.
- With ``remember_failure_seconds``, a failure is remembered for that URL and the next requests
  within it fail at once (``recently_failed``) instead of paying the deadline again.
- The log names the destination's origin and the outcome, never a path, query, header or body.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping

from authserver.outbound.policy import IPAddress, OutboundPolicy, Target, UrlRefused
from authserver.platform.config import Settings

log = logging.getLogger(__name__)

PER_DESTINATION = 4
DEFAULT_MAX_BYTES = 64 * 1024
_MAX_REMEMBERED = 1000
_USER_AGENT = "authserver"

Resolver = Callable[[str, int], list[str]]


class OutboundError(Exception):
    """The request could not be made or did not complete. ``reason`` is one of ``refused``
    (by the policy: ``rule`` says which), ``unresolvable``, ``unreachable``, ``timeout``,
    ``tls``, ``too_large``, ``protocol``, ``busy``, ``recently_failed``."""

    def __init__(self, reason: str, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.rule = reason, rule


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    elapsed_seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Outbound:
    def __init__(self, settings: Settings, *, resolve: Resolver = resolve_host,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.policy = OutboundPolicy.from_settings(settings)
        self.default_deadline_seconds = settings.outbound_timeout_seconds
        self._resolve = resolve
        self._monotonic = monotonic
        self._ca_file = settings.outbound_ca_file
        self._tls_context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._busy: dict[tuple[str, int], int] = {}
        self._failed_until: dict[str, float] = {}
        # Resolution cannot be interrupted, so it runs here and is waited for within the
        # deadline; a hung resolver holds one of these threads, never the request's.
        self._resolvers = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="authserver-resolve"
        )

    @property
    def _tls(self) -> ssl.SSLContext:
        """Made at the first TLS connection: loading the system's CAs costs tens of
        milliseconds, which most processes (each CLI call, each test app) never need."""
        with self._lock:
            if self._tls_context is None:
                context = ssl.create_default_context()
                if self._ca_file:
                    context.load_verify_locations(cafile=self._ca_file)
                self._tls_context = context
            return self._tls_context

    def get(self, url: str, **options) -> Response:  # noqa: ANN003
        return self.request("GET", url, **options)

    def post(self, url: str, body: bytes, **options) -> Response:  # noqa: ANN003
        return self.request("POST", url, body=body, **options)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        deadline_seconds: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        remember_failure_seconds: float = 0,
    ) -> Response:
        try:
            target = self.policy.check_url(url)
        except UrlRefused as e:
            raise OutboundError("refused", str(e), e.rule) from None
        now = self._monotonic()
        if self._failed_until.get(url, 0.0) > now:
            raise OutboundError("recently_failed", f"{target.origin} failed a moment ago")
        deadline = now + (deadline_seconds or self.default_deadline_seconds)
        destination = (target.host, target.port)
        self._enter(destination, target)
        try:
            response = self._send(method, target, headers or {}, body, deadline, max_bytes)
        except OutboundError as e:
            log.warning("outbound %s %s failed: %s", method, target.origin, e.reason)
            if remember_failure_seconds > 0:
                self._remember_failure(url, remember_failure_seconds)
            raise
        finally:
            self._leave(destination)
        log.info("outbound %s %s answered %s", method, target.origin, response.status)
        return response

    # --- one destination at a time, a few requests each -------------------------------------

    def _enter(self, destination: tuple[str, int], target: Target) -> None:
        with self._lock:
            if self._busy.get(destination, 0) >= PER_DESTINATION:
                raise OutboundError("busy", f"{target.origin} has {PER_DESTINATION} requests "
                                            "in flight already")  # fmt: skip
            self._busy[destination] = self._busy.get(destination, 0) + 1

    def _leave(self, destination: tuple[str, int]) -> None:
        with self._lock:
            left = self._busy.get(destination, 1) - 1
            if left > 0:
                self._busy[destination] = left
            else:
                self._busy.pop(destination, None)

    def _remember_failure(self, url: str, seconds: float) -> None:
        with self._lock:
            if len(self._failed_until) >= _MAX_REMEMBERED:
                self._failed_until.clear()
            self._failed_until[url] = self._monotonic() + seconds

    # --- the request itself --------------------------------------------------------------------

    def _send(self, method: str, target: Target, headers: Mapping[str, str], body: bytes | None,
              deadline: float, max_bytes: int) -> Response:  # fmt: skip
        started = self._monotonic()
        address = self._checked_address(target, deadline)
        raw = self._connect(address, target, deadline)
        watchdog = threading.Timer(max(deadline - self._monotonic(), 0.0), _abort, (raw,))
        watchdog.daemon = True
        watchdog.start()
        try:
            sock = raw
            if target.scheme == "https":
                sock = self._tls.wrap_socket(raw, server_hostname=target.host)
            connection = _Connection(target, sock)
            answer = None
            try:
                connection.request(method, target.path, body=body,
                                   headers={"User-Agent": _USER_AGENT, "Connection": "close",
                                            **headers})  # fmt: skip
                answer = connection.getresponse()
                payload = _read_capped(answer, max_bytes)
            finally:
                if answer is not None:
                    answer.close()  # its file holds the socket open otherwise
                connection.close()
        except OutboundError:
            raise
        except ssl.SSLError as e:
            raise self._failure(deadline, "tls", f"TLS with {target.origin} failed") from e
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise self._failure(deadline, "protocol",
                                f"{target.origin} gave no valid HTTP answer") from e  # fmt: skip
        finally:
            watchdog.cancel()
            raw.close()
        if self._monotonic() > deadline:
            raise OutboundError("timeout", f"{target.origin} took longer than the deadline")
        declared = answer.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and len(payload) < int(declared):
            raise OutboundError("protocol", f"{target.origin} cut its answer off")
        headers_out = {name.lower(): value for name, value in answer.getheaders()}
        return Response(answer.status, headers_out, payload, self._monotonic() - started)

    def _failure(self, deadline: float, reason: str, message: str) -> OutboundError:
        if self._monotonic() >= deadline:  # the watchdog closed the socket
            return OutboundError("timeout", message + " within the deadline")
        return OutboundError(reason, message)

    def _checked_address(self, target: Target, deadline: float) -> IPAddress:
        if target.literal is not None:
            return target.literal  # checked with the URL
        future = self._resolvers.submit(self._resolve, target.host, target.port)
        try:
            found = future.result(timeout=max(deadline - self._monotonic(), 0.0))
        except concurrent.futures.TimeoutError:
            raise OutboundError("timeout", f"resolving {target.host} took too long") from None
        except (OSError, UnicodeError) as e:
            raise OutboundError("unresolvable", f"{target.host} does not resolve") from e
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise OutboundError("unresolvable", f"{target.host} does not resolve")
        for address in addresses:
            # Every address, not only the one used: a name with one public and one internal
            # address would otherwise reach the internal one on a retry.
            try:
                self.policy.check_address(target, address)
            except UrlRefused as e:
                raise OutboundError("refused", str(e), e.rule) from None
        return addresses[0]

    def _connect(self, address: IPAddress, target: Target, deadline: float) -> socket.socket:
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise OutboundError("timeout", f"no time left to connect to {target.origin}")
        try:
            return socket.create_connection((str(address), target.port), timeout=remaining)
        except TimeoutError:
            raise OutboundError("timeout", f"connecting to {target.origin} took too long") from None
        except OSError as e:
            raise OutboundError("unreachable", f"{target.origin} refused the connection") from e


class _Connection(http.client.HTTPConnection):
    """http.client over a socket already connected (to the checked address) and, for https,
    already wrapped; the Host header still names the URL's host."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        default = 443 if target.scheme == "https" else 80
        host = f"[{target.host}]" if ":" in target.host else target.host
        super().__init__(host if target.port == default else f"{host}:{target.port}")
        self.sock = sock

    def connect(self) -> None:  # never: the socket is given
        raise OSError("the connection was closed")


def _read_capped(answer: http.client.HTTPResponse, max_bytes: int) -> bytes:
    declared = answer.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise OutboundError("too_large", f"the answer declares {declared} bytes, over the cap")
    chunks, size = [], 0
    while True:
        chunk = answer.read1(min(65536, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise OutboundError("too_large", f"the answer is larger than {max_bytes} bytes")


def _abort(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
