"""Where synchronous oracles run: in the engine's process, a local process pool, or a Dask cluster.

A synchronous oracle (a :class:`oracles.base.SyncOracle`, which implements
``evaluate``) is wrapped by one of the executors below, which turn it into an
asynchronous oracle with the same ``submit`` / ``poll`` / ``cancel`` calls as
any other. The engine cannot tell the difference: results come back through
``poll`` whichever executor produced them.

``executor:`` in the campaign YAML chooses::

    executor: {kind: local, workers: 2, timeout: 600}      # a process pool (pebble), default
    executor: {kind: dask, address: tcp://10.0.0.5:8786}   # an existing Dask scheduler
    executor: {kind: dask, address: local, workers: 2}     # a LocalCluster on loopback
    executor: {kind: inline}                               # in the engine's process, at submit

Without the block an oracle gets its class's ``default_executor`` (``local``
for real calculations, ``inline`` for a table lookup or an analytic function).

Each worker process builds its own oracle instance from the plugin's class
and validated config (nothing is pickled but those and the experiment), keeps
it for later experiments, and runs an experiment through
:func:`oracles.base.run_experiment`, so a plugin's exception or garbage return
value becomes a failed result in the same way everywhere.

Timeouts (``timeout``, else the oracle class's ``default_timeout``, else none): the local pool kills a worker whose experiment runs past
``timeout`` seconds (and starts a fresh one); the experiment is recorded as
``timed_out``. Dask cannot kill a running task, so there the experiment is
recorded as timed out ``timeout`` seconds after submission and its future is
cancelled; the worker thread finishes in the background. A worker that dies
(killed, out of memory, a segfault in a calculator) fails its experiment with
the reason under the local pool; Dask first re-runs the task on another
worker (its ``allowed-failures`` policy) and reports ``KilledWorker`` only when
that is exhausted. Either way the experiment ends in a recorded state: never
lost, and the campaign's retry policy applies.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Sequence

from pydantic import BaseModel

from oracles.base import Experiment, OracleContext, Result, run_experiment

from .errors import LooplabError

log = logging.getLogger("looplab.executor")


@dataclass(frozen=True)
class OracleRecipe:
    """How a worker builds the oracle: class import path, validated config and context. Picklable."""

    target: str  # "package.module:ClassName"
    config: BaseModel
    context: OracleContext

    @classmethod
    def of(cls, oracle_class: type, config: BaseModel, context: OracleContext) -> "OracleRecipe":
        return cls(f"{oracle_class.__module__}:{oracle_class.__qualname__}", config, context)

    def key(self) -> str:
        return f"{self.target}|{self.config.model_dump_json()}|{self.context!r}"


# one oracle instance per (recipe) in each worker process
_WORKER_ORACLES: dict[str, Any] = {}


def _worker_oracle(recipe: OracleRecipe) -> Any:
    key = recipe.key()
    oracle = _WORKER_ORACLES.get(key)
    if oracle is None:
        from . import plugins

        cls = plugins._import_path(recipe.target)
        oracle = plugins.build(cls, recipe.config, recipe.context)
        _WORKER_ORACLES[key] = oracle
    return oracle


def evaluate_in_worker(recipe: OracleRecipe, experiment: Experiment) -> Result:
    """Run one experiment in this (worker) process. Never raises for the plugin's own errors."""
    try:
        oracle = _worker_oracle(recipe)
    except Exception as exc:
        return Result(experiment.id, "failed",
                      error=f"the oracle could not be built in the worker: {type(exc).__name__}: {exc}")
    result = run_experiment(oracle, experiment)
    outputs = dict(result.outputs)
    outputs.setdefault("worker_pid", os.getpid())
    return Result(result.experiment_id, result.status, result.value, outputs, result.error)


class _FutureOracle:
    """Common bookkeeping: one future per experiment id, each result delivered once."""

    def __init__(self, timeout: float | None):
        self.timeout = timeout
        self._futures: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._finished: dict[str, Result] = {}  # produced, not yet delivered
        self._delivered: set[str] = set()

    # subclasses provide _start(experiment) -> future, _result_of(id, future) -> Result | None
    def _start(self, experiment: Experiment) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _result_of(self, experiment_id: str, future: Any) -> Result | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def submit(self, experiments: Sequence[Experiment]) -> None:
        for exp in experiments:
            if exp.id in self._futures or exp.id in self._finished or exp.id in self._delivered:
                continue  # idempotent per id
            self._futures[exp.id] = self._start(exp)
            self._started[exp.id] = time.monotonic()

    def poll(self) -> list[Result]:
        for eid, fut in list(self._futures.items()):
            result = self._result_of(eid, fut)
            if result is not None:
                del self._futures[eid]
                self._finished[eid] = result
        fresh = list(self._finished.values())
        self._finished.clear()
        self._delivered.update(r.experiment_id for r in fresh)
        return fresh

    def running_ids(self) -> list[str]:
        return [eid for eid, fut in self._futures.items() if _is_running(fut)]

    def cancel(self, experiment_id: str) -> None:
        fut = self._futures.pop(experiment_id, None)
        if fut is not None:
            fut.cancel()
            self._finished[experiment_id] = Result(experiment_id, "cancelled", error="cancelled")

    def _timed_out(self, experiment_id: str) -> Result:
        return Result(experiment_id, "timed_out",
                      error=f"ran past the executor timeout of {self.timeout:g} s (executor.timeout)")


def _is_running(fut: Any) -> bool:
    status = getattr(fut, "status", None)  # a dask future says 'pending' until done
    if isinstance(status, str):
        return status == "pending"
    return bool(getattr(fut, "running", lambda: False)())


def _init_worker() -> None:
    """Each worker runs one experiment at a time and the pool has about one worker per core, so
    BLAS/OpenMP threads inside a worker only oversubscribe the machine (Dask's workers do the same).
    The variables cover libraries loaded later (OpenBLAS reads them when it loads); threadpoolctl
    limits those already loaded. Measured: 2 workers x 2 OpenBLAS threads made a 32-atom EMT
    relaxation (thousands of 3x3 LAPACK calls) 5-10 times slower."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS now, so the limit below covers it)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except Exception:  # threadpoolctl or scipy missing: the variables still apply to what loads later
        pass


class LocalExecutor(_FutureOracle):
    """A pool of worker processes on this machine (pebble), with per-experiment timeouts."""

    def __init__(self, recipe: OracleRecipe, *, workers: int, timeout: float | None):
        super().__init__(timeout)
        import multiprocessing

        from pebble import ProcessPool

        self.recipe = recipe
        self.workers = workers
        # spawn, not fork: the engine's process may hold TensorFlow's threads, which fork does not copy safely
        self._pool = ProcessPool(max_workers=workers, context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker)

    def describe(self) -> str:
        limit = f", timeout {self.timeout:g} s" if self.timeout else ""
        cores = os.cpu_count() or 1
        # each worker is a process with its own oracle (about 90 MB for the built-in ones), started at once: more
        # than the cores suits oracles that wait (on an instrument, a queue), not ones that compute (fuzz round 18)
        crowd = (f" (more than this machine's {cores} core{'s' if cores > 1 else ''}: they share them, and each holds "
                 "its own memory)"
                 if self.workers > cores else "")
        return f"local process pool, {self.workers} worker(s){limit}{crowd}"

    def _start(self, experiment: Experiment) -> Any:
        return self._pool.schedule(evaluate_in_worker, args=(self.recipe, experiment), timeout=self.timeout)

    def _result_of(self, experiment_id: str, future: Any) -> Result | None:
        if not future.done():
            return None
        try:
            return future.result()
        except FutureTimeout:
            return self._timed_out(experiment_id)
        except CancelledError:
            return Result(experiment_id, "cancelled", error="cancelled")
        except Exception as exc:  # pebble.ProcessExpired: the worker died under this experiment
            code = getattr(exc, "exitcode", None)
            why = f" (exit code {code})" if code is not None else ""
            return Result(experiment_id, "failed",
                          error=f"the worker process died while running this experiment{why}: "
                                f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)


class DaskExecutor(_FutureOracle):
    """Experiments as tasks on a Dask distributed cluster (``address: local`` starts a LocalCluster)."""

    def __init__(self, recipe: OracleRecipe, *, address: str, workers: int | None, timeout: float | None):
        super().__init__(timeout)
        from distributed import Client, LocalCluster

        self.recipe = recipe
        self._cluster = None
        try:
            if address == "local":
                self._cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None,
                                             silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
            else:
                _check_is_dask_scheduler(address)
                self._client = Client(address, timeout="10s")
        except LooplabError:
            raise
        except Exception as exc:  # noqa: BLE001 - a peer that is not a scheduler can fail the handshake anyhow
            if self._cluster is not None:
                self._cluster.close()
            raise LooplabError(f"executor.address: cannot reach the Dask scheduler at '{address}' "
                               f"({type(exc).__name__}: {str(exc)[:200]}); "
                               "start it (dask scheduler / dask worker) or use address: local") from None
        self.address = self._client.scheduler.address
        self._began: dict[str, float] = {}  # when a worker began each experiment (the timeout counts from then)
        self._workerless = False  # said that the cluster has no worker, and has had none since

    def describe(self) -> str:
        n = len(self._client.scheduler_info().get("workers", {}))
        limit = f", timeout {self.timeout:g} s" if self.timeout else ""
        where = "a LocalCluster" if self._cluster is not None else "the cluster"
        wait = f"; experiments wait until a worker joins (dask worker {self.address})" if n == 0 else ""
        return f"dask: {where} at {self.address}, {n} worker(s){limit}{wait}"

    def idle_reason(self) -> str | None:
        """Why experiments in flight cannot run, when the cluster has no worker; else None."""
        if self._client.scheduler_info().get("workers"):
            return None
        return (f"the Dask scheduler at {self.address} has no worker, so the experiments in flight wait (their "
                f"timeout does not run): start one, dask worker {self.address}")

    def _start(self, experiment: Experiment) -> Any:
        self._check_connected()
        # the key makes a resubmission of the same id (after a restart of the engine) the same task
        try:
            return self._client.submit(evaluate_in_worker, self.recipe, experiment, key=f"looplab-{experiment.id}",
                                       pure=False)
        except Exception as exc:  # noqa: BLE001 - the client closed between the check and the submit
            self._check_connected(exc)
            raise

    def poll(self) -> list[Result]:
        self._check_connected()
        if self._futures:
            self._watch_workers()
        done = super().poll()
        self._began = {k: v for k, v in self._began.items() if k in self._futures}
        return done

    def _watch_workers(self) -> None:
        """Note when a worker began each experiment in flight (from the workers' own lists of what they
        execute), and say once when the cluster has no worker at all. Before, the timeout counted from the
        submission: with no worker every experiment was recorded as timed out without having run, using up
        the budget, and a queue longer than the workers timed out the last ones (fuzz round eighteen).
        Without a timeout only the warning needs the workers, and the scheduler's list of them will do."""
        if self.timeout is None:
            workerless = not self._client.scheduler_info().get("workers")
            if workerless and not self._workerless:
                log.warning("%s", self.idle_reason() or "the Dask cluster has no worker")
            self._workerless = workerless
            return
        try:
            executing = self._client.run(_executing_keys)
        except Exception:  # noqa: BLE001 - a worker gone mid-call, an older Dask: the clock of the submission
            for eid in self._futures:
                self._began.setdefault(eid, self._started[eid])
            return
        now = time.monotonic()
        keys = {k for ks in executing.values() for k in ks}
        for eid in self._futures:
            if f"looplab-{eid}" in keys:
                self._began.setdefault(eid, now)
        if not executing and not self._workerless:
            log.warning("%s", self.idle_reason() or "the Dask cluster has no worker")
        self._workerless = not executing

    def _check_connected(self, exc: Exception | None = None) -> None:
        """A scheduler that went away (killed, its machine down) closes the client after its reconnect
        timeout: stop the run with one line instead of a traceback, or of recording every experiment in
        flight as failed. They stay in flight in the store, and a run started once the scheduler is back
        submits them again."""
        status = getattr(self._client, "status", "running")
        if status in ("closing", "closed") or (exc is not None and "closed" in str(exc).lower()):
            raise LooplabError(f"executor.address: the Dask scheduler at {self.address} went away (the client "
                               f"is {status}); every result so far is in the store and the {len(self._futures)} "
                               "experiment(s) in flight are kept: start the scheduler and its workers again, then "
                               "run the campaign again to resume")

    def _result_of(self, experiment_id: str, future: Any) -> Result | None:
        status = future.status
        if status == "finished":
            try:
                return future.result(timeout=5)
            except Exception as exc:  # the result could not be fetched
                return Result(experiment_id, "failed", error=f"dask could not return the result: "
                                                             f"{type(exc).__name__}: {exc}")
        if status == "error":
            exc = future.exception(timeout=5)
            return Result(experiment_id, "failed", error=f"dask task failed: {type(exc).__name__}: {exc}")
        if status in ("cancelled", "lost"):
            if getattr(self._client, "status", "running") != "running":  # reconnecting: lost with the scheduler,
                return None  # kept in flight (poll stops the run once the client gives up)
            return Result(experiment_id, "failed", error=f"dask task {status} (the scheduler or its worker went away)")
        began = self._began.get(experiment_id)
        if self.timeout is not None and began is not None and time.monotonic() - began > self.timeout:
            future.cancel()
            return self._timed_out(experiment_id)
        return None

    def close(self) -> None:
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _executing_keys(dask_worker: Any) -> list[str]:
    """The keys of the tasks a Dask worker is executing now (run on each worker by ``Client.run``)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


PROBE_SECONDS = 5.0


def _check_is_dask_scheduler(address: str, wait: float = PROBE_SECONDS) -> None:
    """Refuse, within ``wait`` seconds, a ``tcp://`` address whose peer is not a Dask scheduler.

    A scheduler sends its handshake (a msgpack map naming ``pickle-protocol``) as soon as a
    connection opens. A web server or a proxy that accepts and then waits for a request would
    leave Dask's own handshake blocked past its timeout, and one that answers with text makes
    Dask read the text as a frame length (a MemoryError of exabytes). Other schemes (tls://,
    ucx://) are left to Dask.
    """
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    where = f"executor.address: '{address}'"
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=wait)
    except OSError as exc:
        raise LooplabError(f"{where}: cannot connect ({exc.strerror or exc}); start the scheduler "
                           "(dask scheduler, then dask worker ADDRESS), check the host and port, "
                           "or use address: local") from None
    deadline = time.monotonic() + wait
    received = b""
    try:
        while b"pickle-protocol" not in received and len(received) < 4096:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    finally:
        sock.close()
    if b"pickle-protocol" not in received:
        heard = "nothing" if not received else repr(received[:40])
        raise LooplabError(f"{where}: something listens there but it is not a Dask scheduler (it sent "
                           f"{heard} in {wait:g} s; a scheduler greets at once); point it at the "
                           "scheduler's port (8786 by default), not its dashboard or another service")


def is_synchronous(oracle_class: type) -> bool:
    """Does this oracle class evaluate one experiment at a time (and so run in an executor)?"""
    return callable(getattr(oracle_class, "evaluate", None)) or callable(
        getattr(oracle_class, "evaluate_experiment", None))


def executor_kind(oracle_class: type, spec: Any) -> str:
    if spec is not None:
        return spec.kind
    return getattr(oracle_class, "default_executor", "local") if is_synchronous(oracle_class) else "none"


def build_oracle(oracle_class: type, config: BaseModel, context: OracleContext, spec: Any) -> Any:
    """The oracle the engine talks to: the plugin itself, or the plugin inside its executor."""
    from . import plugins

    kind = executor_kind(oracle_class, spec)
    if kind in ("none", "inline"):
        return plugins.build(oracle_class, config, context)
    recipe = OracleRecipe.of(oracle_class, config, context)
    timeout = spec.timeout if spec is not None and spec.timeout is not None else getattr(
        oracle_class, "default_timeout", None)
    workers = spec.workers if spec is not None else None
    if kind == "local":
        return LocalExecutor(recipe, workers=workers or min(os.cpu_count() or 1, 4), timeout=timeout)
    return DaskExecutor(recipe, address=spec.address, workers=workers, timeout=timeout)


__all__ = ["LocalExecutor", "DaskExecutor", "OracleRecipe", "build_oracle", "evaluate_in_worker",
           "executor_kind", "is_synchronous"]
