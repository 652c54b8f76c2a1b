"""Work split over the processor's cores by threads, with the same results.

OpenCV and NumPy release Python's lock while they compute, so independent
pieces of an analysis (strips of an image, stages that do not need each
other's output) run at once on threads. How many: OpenCV's own thread setting
(:func:`cv2.getNumThreads`), so a process told to use one thread
(``cv2.setNumThreads(1)``, as :func:`share_cores` does in each worker of a
pool of processes) runs everything in line, in order. Threads are not nested:
work started from a thread of this module runs in line in that thread.

The results never depend on the number of threads: each piece is computed
exactly as it would be alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import cv2

T = TypeVar("T")
R = TypeVar("R")

_inside = threading.local()


def thread_count() -> int:
    """Threads the work may be split over here: OpenCV's thread setting,
    1 inside a thread of this module.

    Examples
    --------
    >>> thread_count() >= 1
    True
    """
    if getattr(_inside, "active", False):
        return 1
    return max(1, cv2.getNumThreads())


def share_cores(processes: int) -> None:
    """Give this process its share of the cores when `processes` like it run at once.

    Meant as the initializer of each worker of a pool of processes: OpenCV (and
    so :func:`thread_count`) then uses ``cores // processes`` threads, at least 1.

    Parameters
    ----------
    processes : int
        Processes sharing the machine's cores.
    """
    cv2.setNumThreads(max(1, cv2.getNumberOfCPUs() // max(1, processes)))


def _run(call: Callable[[], R]) -> R:
    """`call` with the work it splits run in line (threads are not nested)."""
    _inside.active = True
    try:
        return call()
    finally:
        _inside.active = False


def map_threads(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, the items spread over :func:`thread_count` threads.

    This thread and the threads started for the call (a pool kept between
    calls would not survive a fork) each take the next item not yet taken,
    until none is left. An exception from `fn` is raised here, once every
    thread has stopped.

    Examples
    --------
    >>> map_threads(abs, [-2, 3, -4])
    [2, 3, 4]
    """
    threads = min(thread_count(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    indices = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(indices, None)
            if i is None:
                return
            results[i] = fn(items[i])

    with ThreadPoolExecutor(max_workers=threads - 1) as pool:
        others = [pool.submit(_run, work) for _ in range(threads - 1)]
        _run(work)
        for other in others:
            other.result()
    return results


def start(call: Callable[[], R]) -> Future[R]:
    """Begin `call` (no arguments) on a thread of its own; its result comes from the Future.

    The caller goes on meanwhile, splitting its own work as it would anyway
    (a few threads more than cores for a short while). With one thread (see
    :func:`thread_count`) the call is made here and now. Bind what `call`
    reads (:func:`functools.partial`): names the caller then reassigns must
    not change what it computes.

    Examples
    --------
    >>> start(lambda: 6 * 7).result()
    42
    """
    if thread_count() <= 1:
        future: Future[R] = Future()
        try:
            future.set_result(call())
        except Exception as error:  # noqa: BLE001 - raised by result(), as from a thread
            future.set_exception(error)
        return future
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_run, call)
    pool.shutdown(wait=False)  # the thread ends with the call
    return future
