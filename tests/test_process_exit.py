"""``platform.process_exit.at_exit``: run in a forked multiprocessing child (as a Granian worker
ends, skipping atexit), and without keeping alive what a bound method belongs to."""

from __future__ import annotations

import gc
import multiprocessing
import weakref

from authserver.platform.process_exit import at_exit


class _Flusher:
    def __init__(self, path) -> None:  # noqa: ANN001
        self.path = path

    def flush(self, word: str, *, times: int) -> None:
        self.path.write_text(word * times)


def _child(path) -> None:  # noqa: ANN001
    flusher = _Flusher(path)
    at_exit(flusher.flush, "ok", times=2)
    _child.keep = flusher  # alive at the end, as a worker's app is


def test_a_forked_child_runs_it_as_it_ends(tmp_path):
    child = multiprocessing.get_context("fork").Process(target=_child, args=(tmp_path / "out",))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert (tmp_path / "out").read_text() == "okok"


def test_a_bound_method_does_not_keep_its_object_alive(tmp_path):
    flusher = _Flusher(tmp_path / "never")
    at_exit(flusher.flush, "no", times=1)
    gone = weakref.ref(flusher)
    del flusher
    gc.collect()
    assert gone() is None  # the suite's apps are freed, not held for the exit
