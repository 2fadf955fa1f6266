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
import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np

from oracles.base import Experiment as OracleExperiment
from oracles.base import OracleContext, Result, checked

from . import executors, plugins
from .config import Campaign, CampaignSpec, CategoricalParameter, IntParameter, campaign_notes
from .errors import ConfigError, LeaseHeld, LeaseLost, LooplabError, Problem, plugin_call
from .predicted import predicted_best
from .proposer import Proposer, step_rng
from .control import ENDED, EXHAUSTED, asked
from .store import AWAITING, IN_FLIGHT, PENDING, UNCOUNTED, Experiment, Fence, Store
from .stored_spec import refused_since

log = logging.getLogger("looplab.engine")

RESULT_STATUSES = ("succeeded", "failed", "timed_out", "cancelled")  # what an oracle may report (oracles.base.Status)

LONG_WAIT = 60  # seconds without a result before a run says what it waits for (once; see _say_long_wait)
IDLE_HOLD = 0.5  # seconds a waiting campaign's step may answer from memory (see Engine.__init__, _idle)
OUTSIDE = ("imported", "off-plan")  # sources of experiments measured outside the engine's plan (earlier.py)


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
    scored_weights: dict | None = None  # auto's weights from the scores when its gate left "none" alone to predict
    awaiting: int = 0  # experiments held for a person's approval (approval: required)
    deferred: bool = False  # a model step was due, but the fit gate said "not now" (see Engine.fit_gate)
    by_failures: bool = False  # stopped by failures.max_failure_rate (not by a person)


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


def data_files(campaign: Campaign) -> dict:
    """Fingerprints of the data files the campaign reads its candidates and results from: the pool, an
    oracle's ``path`` param that names a file (a lookup table), and those a model declares (a transfer
    model's CSV sources). {field: {"path": ..., "sha256": ...}}."""
    found = {}
    if campaign.space.is_pool:
        found["space.pool.path"] = Path(campaign.space.path)
    path = campaign.spec.oracle.params.get("path") if isinstance(campaign.spec.oracle.params, dict) else None
    if isinstance(path, str) and (campaign.base_dir / path).is_file():
        found["oracle.params.path"] = campaign.base_dir / path
    model_files = getattr(campaign.plugin_classes["model"], "data_files", None)
    if callable(model_files):
        found.update(model_files(campaign.plugin_configs["model"], campaign.base_dir))
    out, digests = {}, {}
    for field, file in found.items():
        key = os.path.realpath(file)
        if key not in digests:  # a lookup oracle on the pool's own file is read once
            digest = hashlib.sha256()
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            digests[key] = digest.hexdigest()
        out[field] = {"path": str(file), "sha256": digests[key]}
    return out


def _not_the_store(store: Store, campaign: Campaign) -> None:
    """ConfigError if a file the oracle writes (its ``written_files`` hook: the EMT oracle's ase_db) is the
    store's own SQLite file: the oracle would write its tables into the store, which is looplab's alone."""
    written = getattr(campaign.plugin_classes.get("oracle"), "written_files", None)
    store_file = store.sqlite_file
    if not callable(written) or store_file is None:
        return
    for field, path in written(campaign.plugin_configs["oracle"], campaign.base_dir).items():
        if os.path.realpath(path) == os.path.realpath(store_file):
            raise ConfigError([Problem(f"oracle.params.{field}", f"'{path}' is the store's own file (--store "
                                                                 f"{store.display_url}); the oracle would write "
                                                                 "its tables into it: give it a file of its own")])


def changed_files(now: dict, then: dict) -> list[str]:
    """The fields of ``data_files`` whose file differs from the fingerprint recorded in ``then``."""
    return [field for field in now if field in then and then[field].get("sha256") != now[field]["sha256"]]


def _check_data_files(store: Store, row: Any, campaign: Campaign) -> dict:
    """Refuse to resume on a data file that changed since the campaign started (results measured on the old
    one would be mixed with the new one's). Returns the fingerprints to record (those of a campaign started
    before they were recorded), which the caller writes once every other check has passed."""
    now = data_files(campaign)
    then = store.campaign_files(row.id)
    if then is None:
        return now
    changed = [Problem(field, f"the file {now[field]['path']} changed since the campaign started (its SHA-256 "
                              f"differs from the one recorded then), so results of the old and the new file would "
                              "be mixed; put the original back, or start a new campaign (another name or --store) "
                              "on the new file")
               for field in changed_files(now, then)]
    if changed:
        raise ConfigError(changed)
    added = {field: now[field] for field in now if field not in then}  # files fingerprinted since it started
    return then | added if added else {}


def check_data_files(store: Store, row: Any, campaign: Campaign) -> None:
    """For a campaign opened by its name (``ask``, ``tell``, ``import NAME``, ``Campaign.open(name)``): the
    refusal of a changed data file that opening it by its file gives (fuzz round nineteen: by name, a changed
    pool, source or physics plugin was used without a word)."""
    try:
        _check_data_files(store, row, campaign)
    except OSError as exc:  # a data file gone or unreadable since the campaign started
        raise ConfigError([Problem("", f"{exc.filename}: cannot be read ({exc.strerror or type(exc).__name__}), and "
                                       f"campaign '{row.name}' reads it; put it back")]) from None


def open_campaign(store: Store, campaign: Campaign, notes: list[str] | None = None) -> tuple[Any, bool]:
    """The stored campaign for ``campaign`` (created if new). Returns (row, resumed).

    Running the same file again resumes. A changed budget, failure policy,
    description, executor or approval policy is accepted (a user may extend a
    campaign, or move it onto a cluster); any other change is refused, naming the
    fields. (A store written before ``approval`` existed has no such key: the same
    as ``none``.) A field whose stored value today's checks refuse is taken from the file
    (``stored_spec.refused_since``), with a note: appended to ``notes`` if given, else logged.
    """
    spec = campaign.spec.model_dump(mode="json")
    _not_the_store(store, campaign)
    row = store.get_campaign(campaign.name)
    if row is None:
        # a transfer model's sources are read now, so that a source that cannot be read (a campaign missing
        # from the store, a level the pool lacks) stops the start before the campaign is stored: once
        # stored, a fixed file would be refused as a different setup. A source campaign's experiments are
        # recorded with the data files: the campaign learns from them only, also after the source grows
        for note in campaign_notes(campaign):  # valid, but maybe not what is meant: said once, at the start
            _say(campaign, note, notes)
        sources = _read_sources(store, campaign)
        _source_notes(store, campaign, sources, None, notes)
        earlier = []
        if campaign.spec.initial.data is not None:  # measurements made before: written with the campaign
            from .earlier import imported_experiments, read_initial_data

            rows = read_initial_data(campaign.spec, campaign.base_dir, campaign.space)
            earlier = imported_experiments(campaign.name, rows, start=0)
        address = _oracle_address(campaign, spec)
        return store.create_campaign(campaign.name, spec, str(campaign.base_dir), experiments=earlier,
                                     files=data_files(campaign) | _source_record(campaign, sources)
                                     | ({ADDRESS: {"address": address}} if address else {})), False
    record = _check_data_files(store, row, campaign)
    # an oracle's own connection settings (its class's resumable_params, e.g. the robot's url) may change too
    oracle_may = tuple(f"oracle.params.{k}" for k in getattr(campaign.plugin_classes.get("oracle"),
                                                              "resumable_params", ()))
    diffs = [d for d in spec_differences(row.spec, spec)
             if not d.startswith(("budget.", "failures.", "description", "executor", "approval",
                                  "initial.count_in_budget", "acquisition.min_distance")) and d not in oracle_may]
    fixed = refused_since(row.spec, campaign.base_dir, diffs) if diffs else []
    diffs = [d for d in diffs if d not in fixed]
    if fixed and not diffs:
        note = (f"campaign '{campaign.name}' resumes with this file's {', '.join(fixed)}: the stored "
                f"value{' is' if len(fixed) == 1 else 's are'} refused by this version of looplab (the campaign was "
                "stored before that check existed); the results so far are kept")
        _say(campaign, note, notes)
    if diffs:
        raise ConfigError([Problem(d, "differs from the campaign of the same name in the store") for d in diffs]
                          + [Problem("name", f"a campaign '{campaign.name}' with a different setup is already in "
                                             "the store; rename this campaign or use another --store")])
    added = _moved_oracle_note(store, row, spec, campaign, notes) | resumed_sources(store, row, campaign, notes)
    if added:
        record = (record or store.campaign_files(row.id) or {}) | added
    if record:
        store.update_campaign(row.id, files=record)
    if row.spec != spec:
        store.update_campaign(row.id, spec=spec)
        if row.status in ("completed",):
            store.update_campaign(row.id, status="running", message="setup changed; resumed")
        row = store.get_campaign(campaign.name)
    return row, True


ADDRESS = "oracle.params.url"  # the store's record of where an oracle's url led, its ${NAME}s filled in


def _oracle_address(campaign: Campaign, spec: dict) -> str | None:
    """Where the oracle of ``spec`` leads now, as its class's ``address(params)`` hook says (the robot: its url,
    ``${NAME}``s filled in, user info masked); None for an oracle without the hook."""
    hook = getattr(campaign.plugin_classes.get("oracle"), "address", None)
    params = (spec.get("oracle") or {}).get("params") or {}
    return hook(params) if callable(hook) and isinstance(params, dict) else None


def _moved_oracle_note(store: Store, row: Any, spec: dict, campaign: Campaign, notes: list[str] | None) -> dict:
    """A campaign resumed with its oracle at another ``url`` while experiments are in flight: the new address
    is asked about them, and any it does not know are submitted there again, while what the old one still
    measures is never read. Said, since it is right for a robot restarted on another port and wrong for another
    robot (fuzz round nineteen: each experiment was measured on two instruments without a word). The address is
    compared as the URL led, ``${NAME}``s filled in (``url: http://host:${PORT}`` with another PORT moves it
    too). Returns the record of the new address to store, if it changed."""
    new = _oracle_address(campaign, spec)
    if new is None:
        return {}
    then = ((store.campaign_files(row.id) or {}).get(ADDRESS, {}).get("address")
            or _oracle_address(campaign, row.spec))
    if then == new:
        return {}
    flying = [e.id for e in store.experiments(row.id) if e.status in ("submitted", "running")]  # posted
    if flying and then is not None:
        _say(campaign, f"oracle.params.url: changed from {then} to {new} with {len(flying)} experiment(s) in "
                       f"flight ({', '.join(flying[:3])}{', ...' if len(flying) > 3 else ''}): those the new "
                       "address does not hold are submitted to it again, and what the old one still measures is "
                       "not read; if the old robot is still running, run once with its url to collect them first",
             notes)
    return {ADDRESS: {"address": new}}


def _source_record(campaign: Campaign, sources: Any) -> dict:
    """The model's record of its sources for the store (a transfer model's source campaigns' experiment ids)."""
    make = getattr(campaign.plugin_classes["model"], "source_record", None)
    return make(campaign.plugin_configs["model"], sources) if callable(make) and sources else {}


def resumed_sources(store: Store, row: Any, campaign: Campaign, notes: list[str] | None) -> dict:
    """On resume: a note for each source campaign that has grown since the start (its new results are not
    used), and the source record to add for a campaign started before it was recorded."""
    if not callable(getattr(campaign.plugin_classes["model"], "source_record", None)):
        return {}
    then = store.campaign_files(row.id) or {}
    sources = _read_sources(store, campaign)  # as recorded, or all for a campaign without the record
    _source_notes(store, campaign, sources, then, notes)
    return {k: v for k, v in _source_record(campaign, sources).items() if k not in then}


def _read_sources(store: Store, campaign: Campaign) -> Any:
    """The model's sources (a transfer model's), read once when the campaign is opened and kept on ``campaign`` for
    the Engine that runs it on this store (``opened_sources``): read again, a source file edited in between
    would be what the run learns from, though the store fingerprinted the first read."""
    sources = Proposer(campaign, store=store).sources
    campaign.opened_sources = (store, sources)
    return sources


def opened_sources(campaign: Campaign, store: Store) -> Any:
    """The sources ``open_campaign`` read for ``campaign`` on ``store``, or None (read them afresh)."""
    kept = campaign.opened_sources
    return kept[1] if kept is not None and kept[0] is store else None


def _source_notes(store: Store, campaign: Campaign, sources: Any, then: dict | None, notes: list[str] | None) -> None:
    """The model's notes on its sources (a transfer model's: rows left out, a source campaign with another
    objective or more inputs, or with results newer than the campaign's start), appended to ``notes``, else
    logged."""
    make = getattr(campaign.plugin_classes["model"], "source_notes", None)
    said = make(campaign.plugin_configs["model"], store=store, sources=sources,
                objective=campaign.spec.objective.model_dump(mode="json"), inputs=list(campaign.space.names),
                then=then, target=campaign.spec.model_dump(mode="json"), target_dir=str(campaign.base_dir)) \
        if callable(make) and sources else []
    for note in said:
        _say(campaign, note, notes)


def _say(campaign: Campaign, note: str, notes: list[str] | None) -> None:
    """A note for the user: appended to ``notes`` if given (the CLI prints them), else logged (a daemon)."""
    if notes is None:
        log.warning("campaign=%s %s", campaign.name, note)
    else:
        notes.append(note)


def used_points(exps: list[Experiment]) -> list[dict]:
    """The params of the experiments a proposal must not repeat: all but those cancelled, unmeasured, when
    their campaign ended (``stop``, a stop rule, failures), which a resumed campaign may propose again (a pool
    campaign stopped with experiments awaiting approval, then resumed, had lost those rows for good: fuzz
    round eighteen). Rejected points stay out (the proposer keeps them apart)."""
    return [e.params for e in exps if not (e.status == "cancelled" and (e.error or "").startswith(ENDED))]


def counted(exps: list[Experiment], spec: CampaignSpec) -> list[Experiment]:
    """The experiments that use up the budget: all but cancelled ones, and but imported earlier data unless
    ``initial.count_in_budget`` says it counts."""
    imported_count = spec.initial.count_in_budget
    return [e for e in exps if e.status not in UNCOUNTED and (imported_count or e.source != "imported")]


def same_value_note(name: str, objective: str, exps: list[Experiment], target: float | None = None) -> str | None:
    """A note when every one of three or more results is the same value: a model learns nothing from them, and
    most likely the oracle does not read the inputs or the objective names the wrong output. Said by ``run``,
    ``status`` and the daemon when a campaign ends. With ``target`` (goal: target), also when the results differ
    but are all equally far from it in floating point (``far_target_note``)."""
    values = [e.value for e in exps if e.status == "succeeded" and e.value is not None]
    if target is not None and (far := far_target_note(name, values, target)):
        return far
    if len(values) < 3 or len(set(values)) != 1:
        return None
    return (f"all {len(values)} results of campaign {name} are the same value ({values[0]:g}): the oracle may not "
            f"read the inputs, or '{objective}' may be the wrong output; check the oracle's settings (looplab export "
            "shows each experiment's outputs)")


def far_target_note(name: str, values: list[float], target: float) -> str | None:
    """A note when results that differ are all equally far from objective.target_value in floating point (a
    target of 1e300 for values near 1): the goal then ranks every result the same, and the campaign cannot tell
    better from worse."""
    if len(set(values)) < 2 or len({abs(v - target) for v in values}) != 1:
        return None
    return (f"the {len(values)} results of campaign {name} ({min(values):g} to {max(values):g}) are all equally "
            f"far from objective.target_value ({target:g}) in floating point, so the goal ranks them all the same "
            "and the campaign cannot tell better from worse; set target_value to the value you want to reach, on "
            "the scale of the results")


def _failure_reasons(failed: list[Experiment], n: int = 3, width: int = 200) -> str:
    """The ``n`` most frequent reasons, whole (a reason may hold colons, as in a URL), with their counts."""
    counts = Counter((e.error or e.status).strip().split("\n")[0] for e in failed)
    return "; ".join(f"{r if len(r) <= width else r[:width - 3] + '...'} ({k}x)" for r, k in counts.most_common(n))


class Engine:
    """Runs one campaign against one store."""

    def __init__(self, campaign: Campaign, store: Store, *, campaign_row: Any | None = None,
                 oracle: Any = None):
        """oracle: use this oracle object instead of building the campaign's own (the Python API's
        ask/tell passes a :class:`oracles.manual.ManualOracle`: the experiments are the caller's to run)."""
        self.campaign = campaign
        self._oracle_override = oracle
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
                            pool_where=getattr(self.space, "where", None) or None,
                            pool_categorical=tuple(self.space.categorical) if self.space.is_pool else ())
        oracle_class, oracle_config = campaign.plugin_classes.get("oracle"), campaign.plugin_configs.get("oracle")
        try:
            if self._oracle_override is not None:
                self.oracle = self._oracle_override
            elif executors.executor_kind(oracle_class, self.spec.executor) in ("local", "dask"):
                # built here once, and discarded, so a plugin that cannot start says so now rather than
                # failing every experiment in the workers (from_config is meant to be cheap)
                plugins.build(oracle_class, oracle_config, ctx)
            if self._oracle_override is None:
                self.oracle = executors.build_oracle(oracle_class, oracle_config, ctx, self.spec.executor)
        except LooplabError:
            raise
        except Exception as exc:  # a plugin's own failure to start, reported as a user-facing error
            raise LooplabError(f"oracle '{self.spec.oracle.kind}' could not start: {type(exc).__name__}: {exc}") from None
        self.proposer = Proposer(campaign, store=self.store, sources=opened_sources(campaign, self.store))
        # a transfer model's sources are read now, as they were fingerprinted when the campaign was opened: read
        # at the first model step, a source file edited while the initial design ran was used, though the store
        # certified the original (fuzz round nineteen)
        self.proposer.sources
        self._weights: dict | None = None  # a transfer model's method weights, for the step's log line
        self._scored: dict | None = None  # ... and the scored ones, when auto's gate set them aside
        self._marked_running: set[str] = set()
        self._far_target_said = False
        self._marked_submitted: set[str] = set()
        self._model = None
        self._model_n = -1
        self._dispatched: set[str] = set()  # ids this process handed to the oracle (approved ones: exactly once)
        now = self.store.get_campaign(self.spec.name)  # read under the lease: what the last holder left
        self._status = now.status if now is not None else self.row.status
        self._pred: dict | None = None  # the predicted best of the last fit, for the step's log line
        # the report of a step that found nothing to do (every slot in flight): while no result arrives, the
        # next steps within IDLE_HOLD seconds return it without reading the store (a daemon steps hundreds of
        # waiting campaigns a second). Not longer: other processes write to the store too (looplab tell,
        # approve, pause, stop, extend), and a daemon obeys them within a tick
        self._idle: StepReport | None = None
        self._idle_at = 0.0
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

    def predicted_best(self, experiments: list[Experiment] | None = None) -> dict | None:
        """The model's predicted best over every succeeded experiment (orchestrator/predicted.py).

        The model of the last step when it saw every result; else a GP rebuilt from the latest snapshot's
        hyperparameters (``restore``: no fit, milliseconds) on all results; else, for models that cannot be
        restored, the prediction recorded with the latest snapshot (it then says how many points it saw)."""
        exps = experiments if experiments is not None else self.store.experiments(self.id, ["succeeded"])
        done = [e for e in exps if e.status == "succeeded" and e.value is not None]
        if len(done) < 2:
            return None
        observed, raw = [e.params for e in done], [e.value for e in done]
        model = self._model if self._model is not None and self._model_n == len(done) else None
        try:
            if model is None:
                state = self.store.latest_snapshot(self.id)
                step = max(e.step for e in exps) + 1
                candidate = self.proposer.build_model(step, state)
                if state and callable(getattr(candidate, "restore", None)):
                    y = self.proposer.warp(self.proposer.internal(np.asarray(raw, dtype=float)))
                    model = candidate.restore(self.space.encode(observed), y, state)
            if model is not None:
                return predicted_best(self.proposer, model, observed, raw)
        except Exception as exc:  # noqa: BLE001 - the summary must not fail on a model that cannot restore
            log.info("campaign=%s predicted best not recomputed (%s: %s)", self.spec.name, type(exc).__name__, exc)
        return self.store.latest_prediction(self.id)

    def _record_final_prediction(self, exps: list[Experiment]) -> None:
        """At the end, the predicted best over every result (if the last fit did not see them all)."""
        done = sum(e.status == "succeeded" and e.value is not None for e in exps)
        last = self.store.latest_prediction(self.id)
        if last is None or last.get("n") == done:
            return  # no model was ever fitted, or the last fit saw every result
        pred = self.predicted_best(exps)
        if pred and pred.get("n") == done:
            self.store.add_prediction(self.id, max(e.step for e in exps), pred, fence=self.fence)

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
        self._dispatched.update(e.id for e in exps)
        self._oracle_call(f"to submit {len(exps)} experiment(s)", lambda: self.oracle.submit(self._to_oracle(exps)),
                          "they stay in the store as proposed and are submitted again when the campaign runs again")
        job_ids = getattr(self.oracle, "job_ids", None)
        if callable(job_ids):  # the oracle says which it accepted; the rest stay 'proposed' until it does
            self._mark_accepted()
        else:
            self.store.mark_submitted([e.id for e in exps], fence=self.fence)

    def _oracle_call(self, what: str, call: Callable[[], Any], after: str) -> Any:
        """``call()`` of the oracle plugin (see errors.plugin_call); ``after`` says what happens to the
        experiments."""
        return plugin_call(call, f"oracle.kind: oracle '{self.spec.oracle.kind}'", what, after)

    def _polled(self) -> list[Any]:
        """The oracle's poll(), checked: a list of oracles.base.Result, each for an experiment of this campaign
        that is in flight or already ended, with a known status. Anything else is one line naming the oracle (a
        result under an unknown id was ignored, and the run waited for ever; an unknown status was stored)."""
        got = self._oracle_call("to poll for results", self.oracle.poll,
                                "the experiments in flight are kept and polled again when the campaign runs again")
        kept = "the experiments in flight are kept; fix the oracle and run the campaign again"
        if got is None or isinstance(got, (str, bytes, dict)) or not hasattr(got, "__iter__"):
            raise LooplabError(f"oracle.kind: oracle '{self.spec.oracle.kind}' poll() returned "
                               f"{type(got).__name__}, not a list of oracles.base.Result; {kept}")
        results = list(got)
        wrong = next((r for r in results if not isinstance(r, Result)), None)
        if wrong is not None:
            raise LooplabError(f"oracle.kind: oracle '{self.spec.oracle.kind}' poll() returned a "
                               f"{type(wrong).__name__} ({wrong!r:.60}) among its results; each must be an "
                               f"oracles.base.Result(experiment_id, status, value, outputs, error); {kept}")
        bad = next((r for r in results if r.status not in RESULT_STATUSES), None)
        if bad is not None:
            raise LooplabError(f"oracle.kind: oracle '{self.spec.oracle.kind}' poll() returned the status "
                               f"{bad.status!r} for {bad.experiment_id}; a result is one of "
                               f"{', '.join(RESULT_STATUSES)}; {kept}")
        unsent = [r for r in results if r.experiment_id not in self._dispatched]  # usually none: no store read
        if unsent:
            known = {e.id for e in self.store.experiments(self.id)}
            stray = [r.experiment_id for r in unsent if r.experiment_id not in known]
            if stray:
                raise LooplabError(f"oracle.kind: oracle '{self.spec.oracle.kind}' poll() returned results for "
                                   f"{len(stray)} experiment(s) this campaign does not have ({', '.join(map(str, stray[:3]))}"
                                   f"{', ...' if len(stray) > 3 else ''}); a result carries the id of the experiment "
                                   f"it was given in submit(); {kept}")
        return results

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

    def _store_driven(self) -> bool:
        """Does what unblocks this campaign arrive in the store rather than from its oracle's poll (a person's
        approval, results told by hand)? Then every step reads the store (no idle shortcut)."""
        return self.spec.approval == "required" or bool(getattr(self.oracle, "results_in_store", False))

    def counted(self, exps: list[Experiment]) -> list[Experiment]:
        return counted(exps, self.spec)

    def step(self, *, n: int | None = None) -> StepReport:
        """Poll, record, check the stop rules, and propose + dispatch if a slot is free.

        n: propose up to this many experiments now, whatever is in flight (the Python API's ``ask(n)``;
        what is in flight is pending for the acquisition, as always); default: fill the free slots
        (``budget.max_in_flight``, else the batch size), at most a batch.
        """
        if time.monotonic() - self._lease_renewed > self.store.lease_ttl / 4:
            self.renew_lease()  # LeaseLost if another process has taken the campaign over
        results = [checked(r) for r in self._polled()]  # any oracle's: a robot's, a plugin's
        recorded = self.store.record_results(self.id, results, fence=self.fence) if results else []
        if callable(getattr(self.oracle, "job_ids", None)):
            self._mark_accepted()
        self._mark_running()
        if not results and self._idle is not None and time.monotonic() - self._idle_at < IDLE_HOLD \
                and not self._store_driven():
            return dataclasses.replace(self._idle, recorded=0)  # nothing arrived: nothing changed in the store
        self._idle = None
        exps = self.store.experiments(self.id)
        if recorded and self.target is not None and not self._far_target_said:
            far = far_target_note(self.spec.name, [e.value for e in exps if e.status == "succeeded"
                                                   and e.value is not None], self.target)
            if far:
                self._far_target_said = True  # once per run; said again when the campaign ends
                log.warning("campaign=%s %s", self.spec.name, far)
        control = self.store.control(self.id)  # what a user asked (looplab pause | resume | stop | extend)
        if control.state == "stopped":
            return self._finish(exps, "stopped", asked("stopped", control), recorded=len(recorded), cancel=True)
        status, message = self._stop_rules(exps, control.failures_from)
        if status != "running":
            report = self._finish(exps, status, message, recorded=len(recorded))
            report.by_failures = status == "stopped"
            return report
        if self._dispatch_approved(exps):
            exps = self.store.experiments(self.id)
        if control.state == "paused" and self._used_up(exps, control):  # nothing left to pause: it has ended
            return self._finish(exps, "completed", self._budget_end(exps), recorded=len(recorded))
        if control.state == "paused":  # no new proposals; results of what is in flight are still recorded
            self._set_status("paused", asked("paused", control))
            report = self._report(exps, None, recorded=len(recorded))
            report.status, report.message = "paused", asked("paused", control)
            return report
        if self._status == "paused":  # resumed (by a user, or the daemon got its file back)
            self._set_status("running", "")
        max_experiments = max(self.spec.budget.max_experiments, control.budget or 0)
        if self._retry_failures(exps, max_experiments):
            exps = self.store.experiments(self.id)

        pending = [e for e in exps if e.status in PENDING]  # in flight, or held for approval
        budget = self.spec.budget
        remaining = max_experiments - len(self.counted(exps))
        slots = (budget.max_in_flight or self.spec.acquisition.batch_size) - len(pending)
        n_new = min(self.spec.acquisition.batch_size, slots, remaining) if n is None else min(n, remaining)
        report = self._report(exps, None, recorded=len(recorded))
        if self._used_up(exps, control):
            return self._finish(exps, "completed", self._budget_end(exps), recorded=len(recorded))
        if n_new <= 0:
            self._idle, self._idle_at = report, time.monotonic()
            return dataclasses.replace(report)

        # imported and off-plan experiments carry the step before theirs (imported data: -1), so they never
        # shift the numbering (and the random numbers) of the engine's own steps; with enough of them (at least
        # initial.n observations) the first step is the model's
        step = max(max((e.step for e in exps), default=-1) + 1, 0)
        rng = step_rng(self.spec.seed, step)
        own = [e for e in exps if e.source not in OUTSIDE]
        measured = sum(e.status == "succeeded" for e in exps)
        if not own and measured < self.spec.initial.n:
            # earlier data (imported, off-plan) stands in for the initial design: only the points still missing
            # up to initial.n are drawn (all of them, exactly as before, for a campaign without such data)
            proposals = self.proposer.initial_design(rng, n=self.spec.initial.n - measured,
                                                     used=used_points(exps))
            source = "initial"
            fit_s = acq_s = 0.0
        else:
            gate = self.fit_gate() if self.fit_gate is not None else contextlib.nullcontext()
            if gate is None:  # not now: what arrived is recorded; the proposal waits for a later step
                report.deferred = True
                return report
            with gate:
                proposals, source, fit_s, acq_s = self._propose(exps, n_new, step, rng)
        if not proposals:
            if not pending:
                return self._finish(exps, "completed", self._exhausted(exps), recorded=len(recorded))
            return report
        gated = self.spec.approval == "required"  # held, not dispatched, until a person approves them
        new = [Experiment(id=experiment_id(self.spec.name, step, i), seq=-1, step=step, position=i,
                          params=p, status=AWAITING if gated else "proposed", source=source)
               for i, p in enumerate(proposals)]
        self.store.add_experiments(self.id, new, fence=self.fence)  # written BEFORE dispatch
        if gated:
            log.info("campaign=%s step=%d %d experiment(s) await approval: looplab approve %s [IDS] "
                     "(or reject, or edit)", self.spec.name, step, len(new), self.spec.name)
        else:
            self._submit(new)
        exps = exps + new
        report = self._report(exps, step, recorded=len(recorded), proposed=len(new), fit=fit_s, acq=acq_s,
                              source=source)
        if source == "model":
            report.weights, report.scored_weights = self._weights, self._scored
        self.store.add_step(self.id, fence=self.fence, step=step, n_observed=report.n_observed, best=report.best,
                            fit_seconds=fit_s, acquisition_seconds=acq_s, proposed=len(new), source=source)
        predicted = ""
        if source == "model" and self._pred:
            predicted = f" predicted_best={self._pred['mean']:.6g}±{self._pred['sd']:.3g}"
        log.info("campaign=%s step=%d n_observed=%d best=%s%s fit_s=%.3f acq_s=%.3f proposed=%d source=%s%s",
                 self.spec.name, step, report.n_observed, _fmt(report.best), predicted, fit_s, acq_s, len(new),
                 source, _weights_text(self._weights, self._scored) if source == "model" else "")
        return report

    def settle(self) -> StepReport | None:
        """End the campaign now if it is due to (a stop rule, or its budget used up with nothing waiting),
        without polling, proposing, dispatching or retrying; None if it runs on. What a told result does: an
        ask/tell campaign has no step until its next ask, and `status` would show it running meanwhile."""
        exps = self.store.experiments(self.id)
        control = self.store.control(self.id)
        if control.state == "stopped":  # `looplab stop` ended it already
            return None
        status, message = self._stop_rules(exps, control.failures_from)  # as a step: paused or not
        if status != "running":
            return self._finish(exps, status, message, recorded=0)
        if self._used_up(exps, control):
            return self._finish(exps, "completed", self._budget_end(exps), recorded=0)
        return None

    def _used_up(self, exps: list[Experiment], control: Any) -> bool:
        """The budget is used up and nothing waits (in flight or for approval): the campaign has ended, paused
        or not (a paused campaign with nothing left kept a daemon with --exit-when-done running for good)."""
        budget = max(self.spec.budget.max_experiments, control.budget or 0)
        return len(self.counted(exps)) >= budget and not any(e.status in PENDING for e in exps)

    def _report(self, exps: list[Experiment], step: int | None, *, recorded: int, proposed: int = 0,
                fit: float = 0.0, acq: float = 0.0, source: str = "") -> StepReport:
        best = self.best_experiment(exps)
        return StepReport(step=step, recorded=recorded, proposed=proposed,
                          n_observed=sum(e.status == "succeeded" for e in exps),
                          n_failed=sum(e.status in ("failed", "timed_out") for e in exps),
                          in_flight=sum(e.status in IN_FLIGHT for e in exps),
                          best=best.value if best else None, fit_seconds=fit, acquisition_seconds=acq,
                          source=source, status=self._status if self._status == "paused" else "running",
                          awaiting=sum(e.status == AWAITING for e in exps))

    def _finish(self, exps: list[Experiment], status: str, message: str, *, recorded: int,
                cancel: bool | None = None) -> StepReport:
        """End the campaign: a completed one (or one a user stopped: ``cancel``) cancels what is still in flight
        or awaiting approval; one stopped by the failure policy keeps it (running it again after fixing the
        cause picks those experiments up)."""
        cancel = status == "completed" if cancel is None else cancel
        pending = [e for e in exps if e.status in PENDING]
        if cancel and pending:
            for e in pending:
                if e.status != AWAITING:  # the oracle never saw those
                    try:
                        self.oracle.cancel(e.id)
                    except LooplabError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - the store records the cancel; say the oracle did not
                        log.warning("campaign=%s oracle '%s' failed to cancel %s (%s: %s); recorded as cancelled",
                                    self.spec.name, self.spec.oracle.kind, e.id, type(exc).__name__, exc)
            self.store.record_results(self.id, [Result(e.id, "cancelled", error=f"{ENDED}{message}")
                                                for e in pending], fence=self.fence)
            exps = self.store.experiments(self.id)
        self._record_final_prediction(exps)
        self._set_status(status, message, force=True)
        report = self._report(exps, None, recorded=recorded)
        report.done, report.status, report.message = True, status, message
        return report

    def _set_status(self, status: str, message: str, *, force: bool = False) -> None:
        """Write the campaign's status when it changes (``force``: always)."""
        if force or status != self._status:
            self.store.update_campaign(self.id, fence=self.fence, status=status, message=message)
            if status != self._status:
                log.info("campaign=%s %s%s", self.spec.name, status, f": {message}" if message else "")
            self._status = status

    def _dispatch_approved(self, exps: list[Experiment]) -> bool:
        """Hand the oracle what a person approved since the last step (status ``proposed``, not yet dispatched
        by this process), exactly once. Under ``approval: none`` (the policy was switched off) anything still
        awaiting approval is approved first. Returns True if the store changed."""
        changed = False
        if self.spec.approval != "required" and any(e.status == AWAITING for e in exps):
            ids, _ = self.store.review_experiments(self.id, None, action="approved", to_status="proposed",
                                                   by="the campaign file (approval: none)", fence=self.fence)
            changed = bool(ids)
            if ids:
                exps = self.store.experiments(self.id)
        approved = [e for e in exps if e.status == "proposed" and e.id not in self._dispatched]
        if approved:
            log.info("campaign=%s dispatching %d approved experiment(s): %s", self.spec.name, len(approved),
                     ", ".join(e.id for e in approved))
            self._submit(approved)
        return changed or bool(approved)

    # the messages of a campaign ended by a stop rule start with control.STOP_RULE_ENDINGS: `extend` reads them
    def _stop_rules(self, exps: list[Experiment], failures_from: int = 0) -> tuple[str, str]:
        """failures_from: the failure rate counts the experiments from this seq on (a resume moves it)."""
        best = self.best_experiment(exps)
        if best is not None and self._reached(best.value):
            obj = self.spec.objective
            if obj.goal == "target":  # stop_at is a distance to the target there: say so
                return "completed", (f"stop_at reached (best {best.value:g}, within {self.spec.budget.stop_at:g} "
                                     f"of the target {obj.target_value:g})")
            return "completed", f"stop_at reached (best {best.value:g})"
        ended = [e for e in exps if e.status in ("succeeded", "failed", "timed_out")]
        patience = self.spec.budget.patience
        if patience is not None and best is not None:
            # the campaign's experiments ended after the best (failures count); imported rows have no order in
            # time (their file's order), so they never use up patience: four imported rows with the best first
            # ended a campaign before its first experiment
            since = sum(e.seq > best.seq and e.source != "imported" for e in ended)
            if since >= patience:
                return "completed", (f"patience: the best ({best.value:g}, experiment {best.id}) has not improved "
                                     f"over the last {since} experiments (budget.patience = {patience})")
        # a failure the policy retries is not (yet) a failed experiment: its retry's outcome counts instead
        retries, retried = self.spec.failures.retries, {e.retry_of for e in exps if e.retry_of}
        counted = [e for e in ended if e.seq >= failures_from and e.id not in retried
                   and (e.status == "succeeded" or e.attempt >= retries)]
        failed = [e for e in counted if e.status != "succeeded"]
        f = self.spec.failures
        if len(counted) >= f.min_experiments and len(failed) / len(counted) > f.max_failure_rate:
            since = " since the last resume" if failures_from else ""
            return "stopped", (f"{len(failed)} of {len(counted)} experiments{since} failed (limit "
                               f"failures.max_failure_rate = {f.max_failure_rate:g}); reasons: "
                               f"{_failure_reasons(failed)}. Fix the oracle, then `looplab resume "
                               f"{self.spec.name}`: the failures so far stop counting, and a daemon picks it up "
                               "(else run it again). Every experiment and its reason: looplab export "
                               f"{self.spec.name}")
        return "running", ""

    def _retry_failures(self, exps: list[Experiment], max_experiments: int) -> bool:
        """Write and submit a retry for every failed experiment that the policy allows and lacks one.

        Derived from the store alone, so a crash between recording a failure and
        writing its retry does not lose the retry.
        """
        retries = self.spec.failures.retries
        if not retries:
            return False
        have = {e.retry_of for e in exps if e.retry_of}
        counted = len(self.counted(exps))
        new = []
        for e in exps:
            if e.status in ("failed", "timed_out") and e.attempt < retries and e.id not in have:
                if counted + len(new) >= max_experiments:
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

    def _exhausted(self, exps: list[Experiment]) -> str:
        """Why nothing new can be proposed: every point of the space is used (a pool's rows, a discrete space's
        points); otherwise acquisition.min_distance rules out what is left (a continuous space called exhausted
        after 5 of 12 experiments said nothing of it: fuzz round eighteen)."""
        d = self.spec.acquisition.min_distance_value
        if d <= 0 or self._space_used_up(exps):
            return EXHAUSTED
        return (f"{EXHAUSTED}: no point left lies at least acquisition.min_distance ({d:g} of each input's range) "
                "from every experiment in some input; lower it in the campaign file (it may change when the "
                "campaign resumes) and run it again")

    def _budget_end(self, exps: list[Experiment]) -> str:
        """The message of a campaign that used up its budget: "budget reached", unless its space is used up too,
        which `extend` must know (it accepted a higher budget, and the next run ended at once: fuzz round 18)."""
        return f"{EXHAUSTED} (and its budget reached)" if self._space_used_up(exps) else "budget reached"

    def _space_used_up(self, exps: list[Experiment]) -> bool:
        """Whether every point of a finite space (a pool, or int and categorical parameters only) has an
        experiment that a proposal may not repeat; False for a space with a continuous parameter."""
        used = used_points(exps)
        if self.space.is_pool:
            return len({self.space.index_of(p) for p in used} - {None}) >= self.space.size
        params = self.space.parameters
        if not all(isinstance(p, (IntParameter, CategoricalParameter)) for p in params):
            return False
        size = math.prod(len(p.choices) if isinstance(p, CategoricalParameter) else p.high - p.low + 1
                         for p in params)
        return len({self.proposer.key(p) for p in used}) >= size

    def _propose(self, exps: list[Experiment], n: int, step: int,
                 rng: np.random.Generator) -> tuple[list[dict], str, float, float]:
        done = [e for e in exps if e.status == "succeeded" and e.value is not None]
        busy = [e.params for e in exps if e.status in PENDING or e.status in ("failed", "timed_out")]
        # refit only when new observations arrived since the last fit
        model = self._model if self._model is not None and self._model_n == len(done) else None
        warm = self.store.latest_snapshot(self.id, before_step=step) if model is None else None

        def propose(warm_state: dict | None) -> Any:
            return self.proposer.propose(observed=[e.params for e in done], values=[e.value for e in done],
                                         busy=busy, used=used_points(exps), n=n, step=step, rng=rng,
                                         model=model, warm_state=warm_state,
                                         rejected=[e.params for e in exps if e.status == "rejected"])
        try:
            prop = propose(warm)
        except Exception as exc:  # noqa: BLE001 - the stored state is a cache: a damaged one is set aside
            from .models.physics import PhysicsPluginError

            # a physics plugin that exits or returns the wrong shape fails whatever the state: not tried twice
            if not warm or isinstance(exc, (LeaseLost, LeaseHeld, PhysicsPluginError)):
                raise
            # said as what happened, not as the state's fault: a physics law that raises fails with any state too
            # (the re-run of round twenty), and then the fit afresh says so in its own error
            log.warning("campaign=%s step=%d the fit from the stored model state failed (%s: %s); fitting afresh "
                        "without it (the state is only a cache)", self.spec.name, step, type(exc).__name__,
                        str(exc)[:200])
            prop = propose(None)
        if prop.fitted:
            if prop.fit_info.get("fallback"):
                log.warning("campaign=%s step=%d model fit failed; kept the last good hyperparameters",
                            self.spec.name, step)
            state = self.proposer.model_state(prop.model)
            info = dict(prop.fit_info)
            pred = info.pop("predicted_best", None)
            self.store.add_snapshot(self.id, step, self.spec.model.kind, len(done), state, info, fence=self.fence)
            if pred:
                self.store.add_prediction(self.id, step, pred, fence=self.fence)
            self._pred = pred
            self._model, self._model_n = prop.model, len(done)
        weights, scored = getattr(prop.model, "weights", None), getattr(prop.model, "scored_weights", None)
        self._weights = weights() if callable(weights) else None
        self._scored = scored() if callable(scored) else None
        return prop.params, prop.source, prop.fit_seconds, prop.acquisition_seconds

    # -- the loop ---------------------------------------------------------------------------------

    def _unbounded(self) -> bool:
        """Does the oracle run in a pool (local or Dask) with no time limit per experiment?"""
        return isinstance(self.oracle, (executors.LocalExecutor, executors.DaskExecutor)) \
            and getattr(self.oracle, "timeout", 0) is None

    def _say_long_wait(self, in_flight: int) -> bool:
        """Say (once per run) why a run has had no result for LONG_WAIT seconds, where nothing else says so: a
        pool with no executor.timeout, or an asynchronous oracle (a plugin's poll(), the robot's jobs); not
        experiments a person tells (``results_in_store``), whose wait the command line already names."""
        idle = getattr(self.oracle, "idle_reason", None)
        reason = idle() if callable(idle) else None
        if reason:
            log.warning("campaign=%s no result for %d s from %d experiment(s) in flight: %s", self.spec.name,
                        LONG_WAIT, in_flight, reason)
        elif self._unbounded():
            log.warning("campaign=%s no result for %d s from %d experiment(s) in flight, and executor.timeout is "
                        "not set: an experiment that never ends holds the campaign for ever; set "
                        "executor.timeout (seconds) to fail such experiments", self.spec.name, LONG_WAIT, in_flight)
        elif not isinstance(self.oracle, (executors.LocalExecutor, executors.DaskExecutor)) \
                and not getattr(self.oracle, "results_in_store", False):
            log.warning("campaign=%s no result for %d s from %d experiment(s) in flight: oracle '%s' reports them "
                        "when its poll() returns them, and the run waits until it does (Ctrl-C stops the run and "
                        "loses nothing; the same command resumes)", self.spec.name, LONG_WAIT, in_flight,
                        self.spec.oracle.kind)
        else:
            return False
        return True

    def run(self, *, poll_interval: float = 0.5, max_steps: int | None = None,
            on_step: Callable[[StepReport], None] | None = None) -> StepReport:
        """Step until the campaign is done (or ``max_steps`` proposing steps have run); the lease is renewed
        from a thread of its own meanwhile (``heartbeat``)."""
        with self.heartbeat():
            return self._run(poll_interval=poll_interval, max_steps=max_steps, on_step=on_step)

    def _run(self, *, poll_interval: float, max_steps: int | None,
             on_step: Callable[[StepReport], None] | None) -> StepReport:
        proposing = 0
        waiting = None  # (status, awaiting) last reported: a change is reported once
        quiet_since, warned = time.monotonic(), False  # since the last result or proposal; said once per run
        while True:
            report = self.step()
            if report.recorded or report.proposed:
                quiet_since = time.monotonic()
            elif not warned and report.in_flight and time.monotonic() - quiet_since > LONG_WAIT:
                warned = self._say_long_wait(report.in_flight)
            now = (report.status, report.awaiting)
            if on_step is not None and (report.proposed or report.recorded or report.done or now != waiting):
                on_step(report)
            waiting = now
            if report.done:
                return report
            if report.proposed:
                proposing += 1
                if max_steps is not None and proposing >= max_steps:
                    return report
            elif not report.recorded:  # waiting: on results, on a person's approval, or paused
                time.sleep(poll_interval)


def _weights_text(weights: dict | None, scored: dict | None = None) -> str:
    """ weights=none:0.12,prior-mean:0.88 (a transfer model's methods), or nothing; when auto's gate left
    "none" alone to predict, weights=none:1.00,... scored=none:0.52,... (the weights the scores gave)."""
    def pairs(w: dict) -> str:
        return ",".join(f"{k}:{v:.2f}" for k, v in w.items())

    if not weights:
        return ""
    return f" weights={pairs(weights)}" + (f" scored={pairs(scored)}" if scored else "")


def _fmt(v: float | None) -> str:
    return "none" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"


__all__ = ["Engine", "StepReport", "open_campaign", "experiment_id", "resumed_sources", "same_value_note"]
