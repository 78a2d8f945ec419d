"""The budgets every process of one host shares: a table in a memory-mapped file.

``authserver serve`` runs its workers as separate processes, and what they all share without a
network hop is the file system. The counters live in one file (``AUTHSERVER_RATE_LIMIT_FILE``,
by default beside the SQLite database, else in the instance folder, named after the database):
a fixed table of 65,536 slots of 64 bytes (4 MiB), mapped into every worker. An operation takes
an exclusive ``flock`` on the file (and a thread lock, since a process's threads share its open
file), reads and writes the slots it needs, and lets go: a few microseconds, no round trip, and
atomic across every process of the host, which is what makes "count first, then decide" hold.

A slot is a 16-byte BLAKE2b digest of the key (neither emails nor addresses are stored), the
four tiers' ``tat`` (see ``buckets``) and when the slot can be forgotten (every tier full again).
A key is looked for in 8 consecutive slots; a new one takes a free or forgettable slot among
them, else the one that would be forgotten soonest, so a flood of fresh keys (random emails or
client ids) pushes out the least used counters, never the busiest ones (an attacker's own
address, hit at every attempt). The file is made 0600 in a 0700 folder; it is reinitialised if
its size or header is not this version's. Each process maps it after it starts (a mapping
inherited through ``fork`` would share the parent's lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

from authserver.budgets.buckets import Charge, Mode, Outcome, apply
from authserver.platform.private_files import PRIVATE_FILE, make_private_dir
from authserver.platform.rates import MAX_TIERS

log = logging.getLogger(__name__)

_MAGIC = b"authserver budgets v1\n"
_HEADER = 64
_SLOT = 64
_PROBES = 8
_EMPTY = bytes(16)
# digest, four tats, the time the slot may be forgotten
_VALUES = struct.Struct(f"<{MAX_TIERS + 1}d")
DEFAULT_SLOTS = 1 << 16


def digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class HostCounters:
    """Counters shared by every process that maps the same file."""

    def __init__(self, path: Path, slots: int = DEFAULT_SLOTS) -> None:
        self.path = path
        self.slots = slots
        self._size = _HEADER + slots * _SLOT
        self._header = _MAGIC + struct.pack("<Q", slots)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._fd: int | None = None
        self._map: mmap.mmap | None = None

    def apply(self, now: float, charges: Sequence[Charge], mode: Mode) -> Outcome:
        with self._lock:
            self._open()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return self._apply(now, charges, mode)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _apply(self, now: float, charges: Sequence[Charge], mode: Mode) -> Outcome:
        keys = [digest(c.key) for c in charges]
        slots = [self._find(key) for key in keys]
        states = [self._live(slot, now) for slot in slots]
        new_states, outcome = apply(states, now, charges, mode)
        if mode is Mode.TAKE and not outcome.allowed:
            return outcome
        for key, slot, tats in zip(keys, slots, new_states, strict=True):
            until = max(tats, default=0.0)
            if until <= now:
                if slot is not None:  # every tier is full again: the key needs no slot
                    self._map[slot : slot + _SLOT] = bytes(_SLOT)
                continue
            if slot is None:
                slot = self._claim(key, now)
            tats = (tats + [0.0] * MAX_TIERS)[:MAX_TIERS]
            self._map[slot : slot + 16] = key
            _VALUES.pack_into(self._map, slot + 16, *tats, until)
        return outcome

    def _positions(self, key: bytes) -> list[int]:
        start = int.from_bytes(key[:8], "little") % self.slots
        return [_HEADER + ((start + i) % self.slots) * _SLOT for i in range(_PROBES)]

    def _find(self, key: bytes) -> int | None:
        for slot in self._positions(key):
            if self._map[slot : slot + 16] == key:
                return slot
        return None

    def _live(self, slot: int | None, now: float) -> list[float]:
        """The slot's tats, or none (full buckets) when it is absent or may be forgotten."""
        if slot is None:
            return []
        values = _VALUES.unpack_from(self._map, slot + 16)
        return list(values[:MAX_TIERS]) if values[MAX_TIERS] > now else []

    def _claim(self, key: bytes, now: float) -> int:
        """A slot for a new key: a free or forgettable one, else the one forgotten soonest."""
        victim, victim_until = None, float("inf")
        for slot in self._positions(key):
            if self._map[slot : slot + 16] == _EMPTY:
                return slot
            until = _VALUES.unpack_from(self._map, slot + 16)[MAX_TIERS]
            if until <= now:
                return slot
            if until < victim_until:
                victim, victim_until = slot, until
        return victim

    def _open(self) -> None:
        pid = os.getpid()
        if self._map is not None and self._pid == pid:
            return
        # A mapping inherited through fork shares the parent's open file (and its flock).
        make_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if (
                    os.fstat(fd).st_size != self._size
                    or os.pread(fd, len(self._header), 0) != self._header
                ):
                    os.ftruncate(fd, 0)
                    os.ftruncate(fd, self._size)
                    os.pwrite(fd, self._header, 0)
                mapped = mmap.mmap(fd, self._size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._map, self._pid = fd, mapped, pid

    def close(self) -> None:
        with self._lock:
            if self._map is not None and self._pid == os.getpid():
                self._map.close()
                os.close(self._fd)
            self._map = self._fd = self._pid = None


class ProcessCounters:
    """The same arithmetic in this process's memory: used only when the host's file cannot be
    opened (logged as an error), so that budgets still hold within each process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[bytes, list[float]] = {}

    def apply(self, now: float, charges: Sequence[Charge], mode: Mode) -> Outcome:
        with self._lock:
            keys = [digest(c.key) for c in charges]
            states = [self._states.get(key, []) for key in keys]
            new_states, outcome = apply(states, now, charges, mode)
            if mode is Mode.TAKE and not outcome.allowed:
                return outcome
            for key, tats in zip(keys, new_states, strict=True):
                if max(tats, default=0.0) <= now:
                    self._states.pop(key, None)
                else:
                    self._states[key] = tats
            if len(self._states) > DEFAULT_SLOTS:
                self._states = {k: v for k, v in self._states.items() if max(v) > now}
            return outcome
