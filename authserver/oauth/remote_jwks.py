"""Clients' public keys at their ``jwks_uri`` (RFC 7591 §2, RFC 7523), for ``private_key_jwt``:
fetched through ``authserver.outbound`` and kept per process, so that a client's host is on the
token endpoint's path as little as possible.

- A set is fresh for ``TTL_SECONDS``. In its last ``REFRESH_AHEAD_SECONDS`` (and after it, while
  it may still be served), a request is answered from memory and one background refresh starts:
  a slow or dead host delays nobody's token request.
- A set that cannot be refreshed is served for at most ``STALE_SECONDS`` past its TTL (bounded
  staleness), then forgotten.
- A request waits for the client's host only when nothing usable is known: the first use of a
  URI in a process, or an assertion signed with a ``kid`` the set lacks (the client rotated its
  keys), at most once per ``REFETCH_SECONDS`` per URI. That fetch is bounded by
  ``INLINE_DEADLINE_SECONDS``, and a failure is remembered as long (outbound's negative cache),
  so a host that is down costs one deadline per interval, not one per request.
- Anything that is not a JWK Set of at most ``MAX_BYTES`` counts as a failure. Every failure
  ends as ``None``: the client's authentication fails (``invalid_client``), never the server.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from authserver_verify import json_input

from authserver.outbound import Outbound, OutboundError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Entry:
    keys: dict | None  # the last good JWK Set
    fresh_until: float
    fetched_at: float


class RemoteJwks:
    TTL_SECONDS = 300.0
    REFRESH_AHEAD_SECONDS = 60.0
    STALE_SECONDS = 3600.0
    REFETCH_SECONDS = 30.0
    INLINE_DEADLINE_SECONDS = 2.0
    BACKGROUND_DEADLINE_SECONDS = 5.0
    MAX_BYTES = 64 * 1024
    MAX_URIS = 10_000

    def __init__(self, outbound: Outbound, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbound = outbound
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._refreshing: set[str] = set()
        self._background = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="authserver-jwks-uri"
        )

    def get(self, uri: str, kid: str | None = None) -> dict | None:
        """The client's JWK Set, or None if none can be had."""
        now = self._monotonic()
        with self._lock:
            entry = self._entries.get(uri)
        if (
            entry is not None
            and entry.keys is None
            and now - entry.fetched_at < self.REFETCH_SECONDS
        ):
            return None  # failed a moment ago: the host is not asked again yet
        if entry is not None and entry.keys is not None:
            usable = now < entry.fresh_until + self.STALE_SECONDS
            if usable and (kid is None or _has_kid(entry.keys, kid)):
                if now >= entry.fresh_until - self.REFRESH_AHEAD_SECONDS:
                    self._refresh_in_background(uri)
                return entry.keys
            if usable and now - entry.fetched_at < self.REFETCH_SECONDS:
                return entry.keys  # an unknown kid: the set was fetched a moment ago
        return self._fetch_and_keep(uri, self.INLINE_DEADLINE_SECONDS, entry)

    def _refresh_in_background(self, uri: str) -> None:
        with self._lock:
            if uri in self._refreshing:
                return
            self._refreshing.add(uri)

        def refresh() -> None:
            try:
                with self._lock:
                    entry = self._entries.get(uri)
                self._fetch_and_keep(uri, self.BACKGROUND_DEADLINE_SECONDS, entry)
            finally:
                with self._lock:
                    self._refreshing.discard(uri)

        self._background.submit(refresh)

    def _fetch_and_keep(self, uri: str, deadline: float, entry: _Entry | None) -> dict | None:
        keys = self._fetch(uri, deadline)
        now = self._monotonic()
        with self._lock:
            if keys is not None:
                self._keep(uri, _Entry(keys, now + self.TTL_SECONDS, now))
                return keys
            if entry is not None and entry.keys is not None:
                if now < entry.fresh_until + self.STALE_SECONDS:
                    # Served stale for a while yet; asked again no sooner than REFETCH_SECONDS.
                    entry.fetched_at = now
                    return entry.keys
            # Nothing usable: remember the failure, so the host is asked once per interval.
            self._keep(uri, _Entry(None, now, now))
        return None

    def _keep(self, uri: str, entry: _Entry) -> None:
        if uri not in self._entries and len(self._entries) >= self.MAX_URIS:
            self._entries.clear()  # bounded memory; sets are fetched again as needed
        self._entries[uri] = entry

    def _fetch(self, uri: str, deadline: float) -> dict | None:
        try:
            response = self._outbound.get(
                uri, headers={"Accept": "application/jwk-set+json, application/json"},
                deadline_seconds=deadline, max_bytes=self.MAX_BYTES,
                remember_failure_seconds=self.REFETCH_SECONDS,
            )  # fmt: skip
        except OutboundError:
            return None  # outbound logged it (the origin, never the path)
        if response.status != 200:
            log.warning("a client's jwks_uri answered %s", response.status)
            return None
        try:
            document = json_input.loads(response.body)
        except ValueError:
            log.warning("a client's jwks_uri answered something that is not JSON")
            return None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            return None
        return document


def _has_kid(keys: dict, kid: str) -> bool:
    return any(isinstance(k, dict) and k.get("kid") == kid for k in keys.get("keys", ()))
