"""The GP's own worker threads: kernel blocks and BLAS calls in parallel, BLAS itself single-threaded.

BLAS runs single-threaded inside the GP (``oracles.blas.single_threaded_blas``): OpenBLAS's spinning
threads make a 2-thread Cholesky 10-100x slower when other jobs keep the cores busy; the GP
parallelises over blocks of work itself instead. numpy's elementwise kernels and single-threaded BLAS
calls release the GIL, so these threads run truly in parallel.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# elements of one [chunk, N] block of the cross-kernel during prediction (2 MB: stays in cache)
CHUNK_ELEMS = 1 << 18
# above this many kernel elements (candidates x observations) prediction runs on two threads
THREADED_ELEMS = 1 << 22


def n_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def parallel(tasks: list) -> list:
    """Run the zero-argument callables, on the GP's worker threads when there are several; their results.
    Each task must not itself call ``parallel``."""
    global _executor
    if len(tasks) <= 1:
        return [t() for t in tasks]
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="looplab-gp")
    # numpy's floating-point error state is per thread: the workers take the caller's, so that a loss the
    # optimiser evaluates under ``np.errstate(... "ignore")`` (``loss.guarded``: an extreme line-search step)
    # does not print RuntimeWarnings from the worker threads
    errors = np.geterr()
    futures = [_executor.submit(_with_errstate, t, errors) for t in tasks]
    return [f.result() for f in futures]


def _with_errstate(task, errors: dict):
    with np.errstate(**errors):
        return task()


def run_blocks(n_rows: int, n_cols: int, work) -> None:
    """Call ``work(start, stop, out, tmp)`` over row blocks of an [n_rows, n_cols] kernel block
    (``out``/``tmp``: scratch of at least [stop - start, n_cols]), on several threads when large.
    Blocks are sized to stay in cache; every block's numbers are the same whatever the threading."""
    chunk = max(16, CHUNK_ELEMS // max(1, n_cols))
    blocks = [(s, min(n_rows, s + chunk)) for s in range(0, n_rows, chunk)]
    threads = min(n_threads(), len(blocks)) if n_rows * n_cols >= THREADED_ELEMS else 1

    def run(part: list[tuple[int, int]]) -> None:
        rows = max(b - a for a, b in part)
        out, tmp = np.empty((rows, n_cols)), np.empty((rows, n_cols))
        for a, b in part:
            work(a, b, out[: b - a], tmp[: b - a])

    parallel([lambda part=blocks[i::threads]: run(part) for i in range(threads)])
