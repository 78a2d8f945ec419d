"""Work a process does as it ends, wherever it ends: at interpreter exit (the CLI, the tests,
embedding) and at the end of an ``authserver serve`` worker.

Granian's workers are ``multiprocessing`` children (forked), and such a child leaves through
``os._exit`` once its target returns: the functions given to ``atexit`` never run there, on
SIGTERM or otherwise. multiprocessing runs its own exit functions in both places: in a child
before ``os._exit``, and in any other process from atexit. So ``at_exit`` registers there. A
function registered in the ``serve`` master before the fork is the master's: a forked child
starts with none and registers its own.

A bound method is held weakly: what it belongs to (an app's audit writer, its usage counter)
is not kept alive for the exit alone, so a process that makes many apps (the test suite) does
not keep every one of them; one still alive at the end is called then. A live object's
background thread holds it, and a served worker's app lives as long as the worker.
"""

from __future__ import annotations

import multiprocessing.util
import weakref
from collections.abc import Callable
from types import MethodType


def at_exit(callback: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Call ``callback(*args, **kwargs)`` when this process ends normally (the last registered
    runs first); a bound method only if its object is still alive then."""
    if isinstance(callback, MethodType):
        method = weakref.WeakMethod(callback)
        multiprocessing.util.Finalize(None, _call_if_alive, args=(method, args, kwargs),
                                      exitpriority=0)  # fmt: skip
    else:
        multiprocessing.util.Finalize(None, callback, args=args, kwargs=kwargs, exitpriority=0)


def _call_if_alive(method: weakref.WeakMethod, args: tuple, kwargs: dict) -> None:
    callback = method()
    if callback is not None:
        callback(*args, **kwargs)
