"""The closed loop: poll, record, refit, acquire, write, dispatch (DESIGN.md, "one engine step").

:meth:`Engine.step` is idempotent with respect to crashes: every experiment is
written to the store (status ``proposed``) before it is dispatched, results are
recorded in one transaction, and on start every experiment still in flight is
submitted again (oracles ignore ids they already know, so an asynchronous
oracle never runs an experiment twice, and a synchronous one redoes what a
killed process lost).

A step that proposes experiments has a number k (0 for the initial design) and
draws all its randomness from ``numpy.random.default_rng([seed, k])``; the
model is warm-started from the snapshot written before step k. A resumed
campaign therefore proposes what the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import numpy as np

from oracles.base import Experiment as OracleExperiment
from oracles.base import OracleContext, Result

from . import executors, plugins
from .config import Campaign, CampaignSpec
from .errors import ConfigError, LeaseLost, LooplabError, Problem
from .proposer import Proposer, step_rng
from .store import IN_FLIGHT, Experiment, Fence, Store

log = logging.getLogger("looplab.engine")


@dataclass
class StepReport:
    """What one call of :meth:`Engine.step` did."""

    step: int | None  # number of the proposing step, None if it only polled
    recorded: int  # results recorded by this call
    proposed: int
    n_observed: int
    n_failed: int
    in_flight: int
    best: float | None  # best measured objective (raw units)
    fit_seconds: float = 0.0
    acquisition_seconds: float = 0.0
    done: bool = False
    status: str = "running"
    message: str = ""
    source: str = ""
    weights: dict | None = None  # a transfer model's method weights ({method: weight}) at this step
    deferred: bool = False  # a model step was due, but the fit gate said "not now" (see Engine.fit_gate)


def experiment_id(name: str, step: int, position: int) -> str:
    return f"{name}-{step:04d}-{position:02d}"


def spec_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted paths where two spec dicts differ."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        path = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += spec_differences(a, b, path + ".")
        elif a != b:
            out.append(path)
    return out


def open_campaign(store: Store, campaign: Campaign) -> tuple[Any, bool]:
    """The stored campaign for ``campaign`` (created if new). Returns (row, resumed).

    Running the same file again resumes. A changed budget, failure policy,
    description or executor is accepted (a user may extend a campaign, or move
    it onto a cluster); any other change is refused, naming the fields.
    """
    spec = campaign.spec.model_dump(mode="json")
    row = store.get_campaign(campaign.name)
    if row is None:
        return store.create_campaign(campaign.name, spec, str(campaign.base_dir)), False
    diffs = [d for d in spec_differences(row.spec, spec) if not d.startswith(("budget.", "failures.", "description", "executor"))]
    if diffs:
        raise ConfigError([Problem(d, "differs from the campaign of the same name in the store") for d in diffs]
                          + [Problem("name", f"a campaign '{campaign.name}' with a different setup is already in "
                                             "the store; rename this campaign or use another --store")])
    if row.spec != spec:
        store.update_campaign(row.id, spec=spec)
        if row.status in ("completed",):
            store.update_campaign(row.id, status="running", message="budget changed; resumed")
        row = store.get_campaign(campaign.name)
    return row, True


def _failure_reasons(failed: list[Experiment], n: int = 3, width: int = 120) -> str:
    """The ``n`` most frequent reasons, whole (a reason may hold colons, as in a URL), with their counts."""
    counts = Counter((e.error or e.status).strip().split("\n")[0] for e in failed)
    return "; ".join(f"{r if len(r) <= width else r[:width - 3] + '...'} ({k}x)" for r, k in counts.most_common(n))


class Engine:
    """Runs one campaign against one store."""

    def __init__(self, campaign: Campaign, store: Store, *, campaign_row: Any | None = None):
        self.campaign = campaign
        self.spec: CampaignSpec = campaign.spec
        self.space = campaign.space
        self.store = store
        self.row = campaign_row or open_campaign(store, campaign)[0]
        self.id = self.row.id
        # one process at a time runs a campaign: a second `run` or daemon on the same store is refused
        # (a process that died, e.g. SIGKILLed, is taken over at once on the same host). Every write below
        # carries the lease's generation: once another process takes the campaign over, this one's writes
        # fail with LeaseLost and nothing of it reaches the store.
        self._owner = {"host": socket.gethostname(), "pid": os.getpid()}
        self.fence = Fence(self.id, store.acquire_lease(self.id, **self._owner))
        self._lease_renewed = time.monotonic()
        try:
            self._setup(campaign)
        except BaseException:
            store.release_lease(self.id, **self._owner, generation=self.fence.generation)
            raise

    def _setup(self, campaign: Campaign) -> None:
        goal = self.spec.objective
        self.goal = goal.goal
        self.target = goal.target_value
        inputs = tuple(self.space.names)
        pool_path = getattr(self.space, "path", None)
        ctx = OracleContext(campaign=self.spec.name, base_dir=campaign.base_dir, objective=goal.name,
                            inputs=inputs, seed=self.spec.seed, pool_path=pool_path,
                            pool_where=getattr(self.space, "where", None) or None)
        oracle_class, oracle_config = campaign.plugin_classes["oracle"], campaign.plugin_configs["oracle"]
        try:
            if executors.executor_kind(oracle_class, self.spec.executor) in ("local", "dask"):
                # built here once, and discarded, so a plugin that cannot start says so now rather than
                # failing every experiment in the workers (from_config is meant to be cheap)
                plugins.build(oracle_class, oracle_config, ctx)
            self.oracle = executors.build_oracle(oracle_class, oracle_config, ctx, self.spec.executor)
        except LooplabError:
            raise
        except Exception as exc:  # a plugin's own failure to start, reported as a user-facing error
            raise LooplabError(f"oracle '{self.spec.oracle.kind}' could not start: {type(exc).__name__}: {exc}") from None
        self.proposer = Proposer(campaign, store=self.store)
        self._weights: dict | None = None  # a transfer model's method weights, for the step's log line
        self._marked_running: set[str] = set()
        self._marked_submitted: set[str] = set()
        self._model = None
        self._model_n = -1
        # the report of a step that found nothing to do (every slot in flight): while no result arrives, the
        # next steps return it without reading the store (a daemon steps hundreds of waiting campaigns a second)
        self._idle: StepReport | None = None
        # None, or a callable the daemon sets: called before a model step, it returns a context manager to run
        # the fit and acquisition in, or None for "not now" (the step then records, and proposes at a later call)
        self.fit_gate: Callable[[], ContextManager | None] | None = None
        self._resubmit_in_flight()

    # -- objective conventions -------------------------------------------------------------

    def score(self, raw: float) -> float:
        """Higher is better, for any goal."""
        return self.proposer.score(raw)

    def best_experiment(self, experiments: list[Experiment] | None = None) -> Experiment | None:
        exps = experiments if experiments is not None else self.store.experiments(self.id, ["succeeded"])
        done = [e for e in exps if e.status == "succeeded" and e.value is not None]
        return max(done, key=lambda e: (self.score(e.value), -e.seq)) if done else None

    def _reached(self, best_raw: float | None) -> bool:
        stop = self.spec.budget.stop_at
        if stop is None or best_raw is None:
            return False
        if self.goal == "max":
            return best_raw >= stop
        if self.goal == "min":
            return best_raw <= stop
        return abs(best_raw - self.target) <= stop

    # -- dispatch ----------------------------------------------------------------------------

    def _to_oracle(self, exps: list[Experiment]) -> list[OracleExperiment]:
        return [OracleExperiment(id=e.id, params=dict(e.params), campaign=self.spec.name) for e in exps]

    def _submit(self, exps: list[Experiment]) -> None:
        if not exps:
            return
        self.oracle.submit(self._to_oracle(exps))
        job_ids = getattr(self.oracle, "job_ids", None)
        if callable(job_ids):  # the oracle says which it accepted; the rest stay 'proposed' until it does
            self._mark_accepted()
        else:
            self.store.mark_submitted([e.id for e in exps], fence=self.fence)

    def _resubmit_in_flight(self) -> None:
        """Pick up what the previous holder of the lease left in flight (read after taking the lease, so
        nothing it wrote is missed, and it can write nothing more): an asynchronous oracle (the robot) is asked
        by id, so what it already has is polled rather than posted again; a synchronous one runs it again."""
        pending = self.store.experiments(self.id, IN_FLIGHT)
        if pending:
            log.info("campaign=%s picking up %d in-flight experiment(s) left by the previous run",
                     self.spec.name, len(pending))
            self._submit(pending)

    def _mark_accepted(self) -> None:
        """An oracle with ``job_ids()`` (the robot) reports what its instrument accepted: mark those
        submitted, with their job ids. An experiment it still holds back (the robot was unreachable)
        stays ``proposed``, which is the truth, and is marked once the instrument takes it."""
        ids = self.oracle.job_ids()
        fresh = {i: j for i, j in ids.items() if i not in self._marked_submitted}
        if fresh:
            self.store.mark_submitted(list(fresh), fresh, fence=self.fence)
            self._marked_submitted.update(fresh)

    def _mark_running(self) -> None:
        """Oracles that know which experiments have started (executors do) move them to ``running``."""
        running_ids = getattr(self.oracle, "running_ids", None)
        if not callable(running_ids):
            return
        fresh = [i for i in running_ids() if i not in self._marked_running]
        if fresh:
            self.store.mark_running(fresh, fence=self.fence)
            self._marked_running.update(fresh)

    def renew_lease(self) -> None:
        """Tell the store this process still drives the campaign; LeaseLost if another one took it over."""
        self.store.renew_lease(self.fence)
        self._lease_renewed = time.monotonic()

    @contextlib.contextmanager
    def heartbeat(self):
        """Renew the lease every quarter of its TTL from a thread of its own while the block runs, so a step
        that outlasts the TTL (a slow synchronous oracle, a long fit) does not leave the campaign looking
        abandoned. Losing the lease stops the beat; the step's next write then raises LeaseLost."""
        stop = threading.Event()

        def beat() -> None:
            period = max(0.05, self.store.lease_ttl / 4)
            while not stop.wait(period):
                if time.monotonic() - self._lease_renewed < period / 2:
                    continue  # a step renewed it just now
                try:
                    self.renew_lease()
                except LeaseLost:  # another process drives it now
                    return
                except Exception as exc:  # the store is briefly unreachable: the next beat tries again
                    log.warning("campaign=%s could not renew its lease: %s", self.spec.name, exc)

        thread = threading.Thread(target=beat, name=f"looplab-lease:{self.spec.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def close(self) -> None:
        """Release the oracle's executor (worker processes, a Dask client); in-flight work is abandoned,
        and resubmitted when the campaign runs again."""
        try:
            close = getattr(self.oracle, "close", None)
            if callable(close):
                close()
        finally:
            try:
                self.store.release_lease(self.id, **self._owner, generation=self.fence.generation)
            except Exception:  # the store is unreachable: the lease lapses by itself
                log.warning("campaign=%s could not release its lease in the store", self.spec.name)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the step --------------------------------------------------------------------------------

    def step(self) -> StepReport:
        """Poll, record, check the stop rules, and propose + dispatch if a slot is free."""
        if time.monotonic() - self._lease_renewed > self.store.lease_ttl / 4:
            self.renew_lease()  # LeaseLost if another process has taken the campaign over
        results = list(self.oracle.poll())
        recorded = self.store.record_results(self.id, results, fence=self.fence) if results else []
        if callable(getattr(self.oracle, "job_ids", None)):
            self._mark_accepted()
        self._mark_running()
        if not results and self._idle is not None:
            return dataclasses.replace(self._idle, recorded=0)  # nothing arrived: nothing changed in the store
        self._idle = None
        exps = self.store.experiments(self.id)
        status, message = self._stop_rules(exps)
        if status != "running":
            return self._finish(exps, status, message, recorded=len(recorded))
        if self._retry_failures(exps):
            exps = self.store.experiments(self.id)

        in_flight = [e for e in exps if e.status in IN_FLIGHT]
        budget = self.spec.budget
        counted = [e for e in exps if e.status != "cancelled"]
        remaining = budget.max_experiments - len(counted)
        slots = (budget.max_in_flight or self.spec.acquisition.batch_size) - len(in_flight)
        n_new = min(self.spec.acquisition.batch_size, slots, remaining)
        report = self._report(exps, None, recorded=len(recorded))
        if remaining <= 0 and not in_flight:
            return self._finish(exps, "completed", "budget reached", recorded=len(recorded))
        if n_new <= 0:
            self._idle = report
            return dataclasses.replace(report)

        step = (max(e.step for e in exps) + 1) if exps else 0
        rng = step_rng(self.spec.seed, step)
        if not exps:
            proposals, source = self.proposer.initial_design(rng), "initial"
            fit_s = acq_s = 0.0
        else:
            gate = self.fit_gate() if self.fit_gate is not None else contextlib.nullcontext()
            if gate is None:  # not now: what arrived is recorded; the proposal waits for a later step
                report.deferred = True
                return report
            with gate:
                proposals, source, fit_s, acq_s = self._propose(exps, n_new, step, rng)
        if not proposals:
            if not in_flight:
                return self._finish(exps, "completed", "the search space is exhausted", recorded=len(recorded))
            return report
        new = [Experiment(id=experiment_id(self.spec.name, step, i), seq=-1, step=step, position=i,
                          params=p, status="proposed", source=source) for i, p in enumerate(proposals)]
        self.store.add_experiments(self.id, new, fence=self.fence)  # written BEFORE dispatch
        self._submit(new)
        exps = exps + new
        report = self._report(exps, step, recorded=len(recorded), proposed=len(new), fit=fit_s, acq=acq_s,
                              source=source)
        if source == "model":
            report.weights = self._weights
        self.store.add_step(self.id, fence=self.fence, step=step, n_observed=report.n_observed, best=report.best,
                            fit_seconds=fit_s, acquisition_seconds=acq_s, proposed=len(new), source=source)
        log.info("campaign=%s step=%d n_observed=%d best=%s fit_s=%.3f acq_s=%.3f proposed=%d source=%s%s",
                 self.spec.name, step, report.n_observed, _fmt(report.best), fit_s, acq_s, len(new), source,
                 _weights_text(self._weights) if source == "model" else "")
        return report

    def _report(self, exps: list[Experiment], step: int | None, *, recorded: int, proposed: int = 0,
                fit: float = 0.0, acq: float = 0.0, source: str = "") -> StepReport:
        best = self.best_experiment(exps)
        return StepReport(step=step, recorded=recorded, proposed=proposed,
                          n_observed=sum(e.status == "succeeded" for e in exps),
                          n_failed=sum(e.status in ("failed", "timed_out") for e in exps),
                          in_flight=sum(e.status in IN_FLIGHT for e in exps),
                          best=best.value if best else None, fit_seconds=fit, acquisition_seconds=acq,
                          source=source)

    def _finish(self, exps: list[Experiment], status: str, message: str, *, recorded: int) -> StepReport:
        """End the campaign: a completed one cancels what is still in flight; a stopped one keeps it
        (running it again after fixing the cause picks those experiments up)."""
        in_flight = [e for e in exps if e.status in IN_FLIGHT]
        if status == "completed" and in_flight:
            for e in in_flight:
                self.oracle.cancel(e.id)
            self.store.record_results(self.id, [Result(e.id, "cancelled", error=f"campaign ended: {message}")
                                                for e in in_flight], fence=self.fence)
            exps = self.store.experiments(self.id)
        self.store.update_campaign(self.id, fence=self.fence, status=status, message=message)
        report = self._report(exps, None, recorded=recorded)
        report.done, report.status, report.message = True, status, message
        return report

    def _stop_rules(self, exps: list[Experiment]) -> tuple[str, str]:
        best = self.best_experiment(exps)
        if best is not None and self._reached(best.value):
            return "completed", f"stop_at reached (best {best.value:g})"
        ended = [e for e in exps if e.status in ("succeeded", "failed", "timed_out")]
        failed = [e for e in ended if e.status != "succeeded"]
        f = self.spec.failures
        if len(ended) >= f.min_experiments and len(failed) / len(ended) > f.max_failure_rate:
            return "stopped", (f"{len(failed)} of {len(ended)} experiments failed (limit "
                               f"failures.max_failure_rate = {f.max_failure_rate:g}); reasons: "
                               f"{_failure_reasons(failed)}. "
                               "Fix the oracle, then raise the limit or run the campaign again to resume")
        return "running", ""

    def _retry_failures(self, exps: list[Experiment]) -> bool:
        """Write and submit a retry for every failed experiment that the policy allows and lacks one.

        Derived from the store alone, so a crash between recording a failure and
        writing its retry does not lose the retry.
        """
        retries = self.spec.failures.retries
        if not retries:
            return False
        have = {e.retry_of for e in exps if e.retry_of}
        counted = sum(e.status != "cancelled" for e in exps)
        new = []
        for e in exps:
            if e.status in ("failed", "timed_out") and e.attempt < retries and e.id not in have:
                if counted + len(new) >= self.spec.budget.max_experiments:
                    break
                root = e.id.split("-r")[0] if e.attempt else e.id
                new.append(Experiment(id=f"{root}-r{e.attempt + 1}", seq=-1, step=e.step, position=e.position,
                                      params=dict(e.params), status="proposed", attempt=e.attempt + 1,
                                      retry_of=e.id, source="retry"))
        if new:
            self.store.add_experiments(self.id, new, fence=self.fence)
            self._submit(new)
            log.info("campaign=%s retrying %d failed experiment(s)", self.spec.name, len(new))
        return bool(new)

    # -- proposals ------------------------------------------------------------------------------

    def _propose(self, exps: list[Experiment], n: int, step: int,
                 rng: np.random.Generator) -> tuple[list[dict], str, float, float]:
        done = [e for e in exps if e.status == "succeeded" and e.value is not None]
        busy = [e.params for e in exps if e.status in IN_FLIGHT or e.status in ("failed", "timed_out")]
        # refit only when new observations arrived since the last fit
        model = self._model if self._model is not None and self._model_n == len(done) else None
        warm = self.store.latest_snapshot(self.id, before_step=step) if model is None else None
        prop = self.proposer.propose(observed=[e.params for e in done], values=[e.value for e in done],
                                     busy=busy, used=[e.params for e in exps], n=n, step=step, rng=rng,
                                     model=model, warm_state=warm)
        if prop.fitted:
            if prop.fit_info.get("fallback"):
                log.warning("campaign=%s step=%d model fit failed; kept the last good hyperparameters",
                            self.spec.name, step)
            state = prop.model.get_state() if hasattr(prop.model, "get_state") else {}
            self.store.add_snapshot(self.id, step, self.spec.model.kind, len(done), state, prop.fit_info,
                                    fence=self.fence)
            self._model, self._model_n = prop.model, len(done)
        weights = getattr(prop.model, "weights", None)
        self._weights = weights() if callable(weights) else None
        return prop.params, prop.source, prop.fit_seconds, prop.acquisition_seconds

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, *, poll_interval: float = 0.5, max_steps: int | None = None,
            on_step: Callable[[StepReport], None] | None = None) -> StepReport:
        """Step until the campaign is done (or ``max_steps`` proposing steps have run); the lease is renewed
        from a thread of its own meanwhile (``heartbeat``)."""
        with self.heartbeat():
            return self._run(poll_interval=poll_interval, max_steps=max_steps, on_step=on_step)

    def _run(self, *, poll_interval: float, max_steps: int | None,
             on_step: Callable[[StepReport], None] | None) -> StepReport:
        proposing = 0
        while True:
            report = self.step()
            if on_step is not None and (report.proposed or report.recorded or report.done):
                on_step(report)
            if report.done:
                return report
            if report.proposed:
                proposing += 1
                if max_steps is not None and proposing >= max_steps:
                    return report
            elif report.in_flight and not report.recorded:
                time.sleep(poll_interval)


def _weights_text(weights: dict | None) -> str:
    """ weights=none:0.12,prior-mean:0.88 (a transfer model's methods), or nothing."""
    if not weights:
        return ""
    return " weights=" + ",".join(f"{k}:{v:.2f}" for k, v in weights.items())


def _fmt(v: float | None) -> str:
    return "none" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"


__all__ = ["Engine", "StepReport", "open_campaign", "experiment_id"]
