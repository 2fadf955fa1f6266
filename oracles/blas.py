"""BLAS on one thread for a block of numerical work, in any thread of the process.

Used by the ase-emt oracle (thousands of tiny LAPACK calls in a cell relaxation)
and by the GP (its loss and predictions), so both limit OpenBLAS the same way and
never undo each other's limits. It lives in ``oracles/`` because oracles never
import ``orchestrator/`` (a plugin author may use it too: ``with
single_threaded_blas: ...``).
"""

from __future__ import annotations

import threading
from typing import Any


class _SingleThreadedBlas:
    """BLAS on one thread inside a block of numerical work (re-entrant and thread-safe).

    OpenBLAS's own threads spin while they wait for each other; on a machine whose cores
    are busy with other work a 2-thread Cholesky or inverse of a 1,000 x 1,000 matrix
    then takes seconds instead of 0.1 s (measured), and a cell relaxation's thousands of
    3 x 3 LAPACK calls ran about 5 times slower. The GP therefore runs BLAS
    single-threaded and parallelises prediction itself, by blocks of candidates on
    Python threads. The original limits are restored when the last user leaves.

    The limit must really hold, whichever thread enters: OpenBLAS gives different last
    bits with one thread than with two (dpotrf/dpotri from 5 x 5 up), and continuous
    campaigns amplify them. threadpoolctl >= 3.8 lets only one Python thread (the first
    to set a limit) change a process-wide OpenBLAS pool and silently ignores the others,
    so a fit in any other thread (a daemon worker, a second campaign) ran on two threads.
    Set and restore are serialised by the lock here, so each claims control first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._controller: Any = None
        self._limiter: Any = None
        self._claim: Any = None  # threadpoolctl >= 3.8: frees the control of OpenBLAS for this thread

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                try:
                    if self._controller is None:
                        # scipy.linalg brings its own OpenBLAS (the GP and ASE's cell filter use it);
                        # load it first, or the controller (a snapshot of the libraries loaded now)
                        # would not limit it
                        import scipy.linalg  # noqa: F401
                        from threadpoolctl import ThreadpoolController

                        self._controller = ThreadpoolController()
                        self._claim = _blas_claim()
                    if self._claim is not None:
                        self._claim(force=True)
                    self._limiter = self._controller.limit(limits=1, user_api="blas")
                except Exception:  # threadpoolctl missing or failing: run with the default threads
                    self._limiter = None
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._limiter is not None:
                if self._claim is not None:
                    self._claim(force=True)
                self._limiter.restore_original_limits()
                self._limiter = None
                if self._claim is not None:
                    self._claim(force=True)  # and leave it free for other users of threadpoolctl


def _blas_claim() -> Any:
    """threadpoolctl's ``OpenBLASController.clear_controlling_thread`` (>= 3.8), else None: before it
    any thread's limits took effect."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:
        return None
    return getattr(OpenBLASController, "clear_controlling_thread", None)


single_threaded_blas = _SingleThreadedBlas()
