"""Running one measurement in a fresh spawned process, so its peak memory and its imports are its own."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def in_fresh_process(fn: Callable, *args, initializer: Callable | None = None, initargs: tuple = ()):
    """`fn(*args)` in a new spawned process (set up by `initializer(*initargs)` first); returns its result."""
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=initializer, initargs=initargs)
    with pool:
        return pool.submit(fn, *args).result()
