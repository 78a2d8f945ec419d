"""Per-process cache of client snapshots for the OAuth endpoints.

Loading a client with its secrets, roles and permissions costs four queries, more than
everything else on the token endpoint. A snapshot is reused for ``ttl_seconds`` (the same
interval in which workers notice a key rotation), so a disabled client or a removed secret
stops working everywhere within that time. Unknown client ids are never cached (a flood of
random ids must not fill memory), and the cache is bounded. Losing it is always safe.

A snapshot read while the cache was invalidated (a client disabled in another process, its news
arriving between the read and the store) is not stored: it may predate the change. Each
invalidation moves an epoch, taken before the read, as the revocation memory's generation is.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select

from authserver.clients.view import ClientView
from authserver.models import Client
from authserver.platform.extensions import db

MAX_ENTRIES = 10_000


class ClientCache:
    def __init__(self, ttl_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, ClientView]] = OrderedDict()
        self._epoch = 0  # moved by every invalidation

    def get(self, client_id: str) -> ClientView | None:
        now = self._monotonic()
        with self._lock:
            hit = self._entries.get(client_id)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
            epoch = self._epoch
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        if client is None or not client.is_active:
            with self._lock:
                self._entries.pop(client_id, None)
            return None
        view = ClientView.of(client)
        with self._lock:
            if epoch != self._epoch:
                return view  # for this request only: an invalidation came in meanwhile
            self._entries[client_id] = (now, view)
            self._entries.move_to_end(client_id)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return view

    def invalidate(self, client_id: str | None = None) -> None:
        with self._lock:
            self._epoch += 1
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
