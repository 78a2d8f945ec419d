"""Work a process does as it ends, wherever it ends: at interpreter exit (the CLI, the tests,
embedding) and at the end of an ``authserver serve`` worker.

Granian's workers are ``multiprocessing`` children (forked), and such a child leaves through
``os._exit`` once its target returns: the functions given to ``atexit`` never run there, on
SIGTERM or otherwise. multiprocessing runs its own exit functions in both places: in a child
before ``os._exit``, and in any other process from atexit. So ``at_exit`` registers there. A
function registered in the ``serve`` master before the fork is the master's: a forked child
starts with none and registers its own.
"""

from __future__ import annotations

import multiprocessing.util
from collections.abc import Callable


def at_exit(callback: Callable[[], object]) -> None:
    """Call ``callback`` when this process ends normally (the last registered runs first)."""
    multiprocessing.util.Finalize(None, callback, exitpriority=0)
