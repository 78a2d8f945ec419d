"""The queue that back-channel logout and background audit hand their work to."""

from __future__ import annotations

import threading

from authserver.platform.job_queue import JobQueue


def test_jobs_are_handled_in_order_in_batches_and_a_failure_does_not_stop_the_queue():
    handled: list[list[int]] = []
    gate = threading.Event()

    def handle(jobs: list[int]) -> None:
        gate.wait(10)  # the first job holds the thread while the others queue up
        handled.append(jobs)
        if 3 in jobs:
            raise RuntimeError("a handler that fails")

    jobs = JobQueue("test-jobs", handle, batch=2)
    for n in range(5):
        jobs.submit(n)
    assert not jobs.wait_idle(0.05)  # held: not idle
    gate.set()
    assert jobs.wait_idle(10)
    assert [n for batch in handled for n in batch] == [0, 1, 2, 3, 4]
    assert max(len(batch) for batch in handled) == 2
    jobs.submit(5)  # after a failure, still working
    assert jobs.wait_idle(10) and handled[-1] == [5]
