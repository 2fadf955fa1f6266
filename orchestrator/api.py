"""Driving a campaign from Python: ask for experiments, run them yourself, tell the results.

::

    from orchestrator import Campaign

    c = Campaign.open("campaigns/branin_gp_ei.yaml", store="sqlite:///runs/lab.db")
    for e in c.ask():                       # [{"id": "branin-gp-ei-0000-00", "params": {...}}, ...]
        c.tell(e["id"], measure(e["params"]))
    c.tell(params={"x1": 3.1, "x2": 2.2}, value=0.41)   # a measurement nobody asked for: off-plan
    c.best(); c.experiments(); c.predict({"x1": 3.0, "x2": 2.0})

The store stays the single source of truth: ``ask`` proposes exactly as the engine's step does (it *is* an
engine step, :meth:`Engine.step` with ``n``), with the same step numbering and random numbers
(``step_rng(seed, step)``), experiments still waiting counted as pending, and writes the experiments to the
store (status ``proposed``) before returning them. A campaign driven by ask/tell therefore proposes what
``looplab run`` would have proposed with an oracle that measured the same values.

The campaign's own oracle is never called here: the experiments are yours to run. ``tell`` writes to the
store directly, without the campaign's lease (see :meth:`Store.tell`): only experiments still in flight are
touched, all or nothing, so results can be told while a daemon or ``looplab run`` drives the campaign (it
reads them at its next step).

Two processes: ``ask`` takes the campaign's lease for the duration of one step (a fit and an acquisition)
and releases it. If another process holds it, ``ask`` waits up to ``wait`` seconds (another ``ask`` ends
within a few seconds) and then raises :class:`~orchestrator.errors.LeaseHeld` naming the holder (a daemon
or ``looplab run`` driving the campaign proposes by itself: read its experiments with :meth:`pending`).

Threads: a ``Campaign`` object may be shared between threads, and several objects of one campaign may be used
from several threads; their methods take turns (one lock per campaign and store in a process), so two threads
asking at once get one step each, one after the other, with distinct experiments.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from decimal import Decimal
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Callable, Sequence

from oracles.base import Result, json_outputs

from .errors import ConfigError, LeaseHeld, LooplabError, Problem
from .store import AWAITING, IN_FLIGHT, PENDING, Store, default_url


class NothingProposed(UserWarning):
    """``Campaign.ask`` proposed nothing although the campaign still runs; the message says why (experiments
    waiting fill ``budget.max_in_flight``, the budget is used up while experiments wait, a pause, ...)."""


class RecordedAfterEnd(UserWarning):
    """``Campaign.tell(params=...)`` or ``import_data`` recorded measurements in a campaign that has ended
    (completed or stopped): the data are kept, beyond the budget; the campaign stays ended."""


def _shown(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int (or Fraction) of more digits than Python turns into text (int_max_str_digits)
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _waiting_here(name: str, e: Any, pool: bool, *, api: bool = False) -> str:
    """Why a measurement at the point of experiment ``e``, still waiting, is not recorded, and what to do: in
    the words of the CLI (``import``), or of the Python API (``api``: ``tell(params=...)``)."""
    where = f"this pool row is that of experiment {e.id}" if pool else f"these inputs are those of experiment {e.id}"
    tell = f"tell('{e.id}', value)" if api else f"looplab tell {name} {e.id} VALUE"
    if e.status == AWAITING:
        reject = f"reject('{e.id}')" if api else f"looplab reject {name} {e.id}"
        return (f"{where}, which awaits approval (recording this measurement would have the campaign measure that "
                f"point twice): reject it first ({reject}) to record it, or approve it and tell this value as "
                f"its result ({tell})")
    return (f"{where}, which waits for its result ({e.status}): tell this value as its result instead "
            f"({tell}), so that the point is not measured twice")


def _taken(space: Any, exps: Sequence[Any]) -> tuple[dict, dict]:
    """What a new measurement may not repeat: the experiments still waiting (for approval or their result) by
    their point (``earlier.point_key``), and the recorded results by their point and value (``measured_key``); the
    first of each."""
    from .earlier import measured_key, point_key

    waiting: dict[tuple, Any] = {}
    recorded: dict[tuple, Any] = {}
    for e in exps:
        if e.status in PENDING and (k := point_key(space, e.params)) is not None:
            waiting.setdefault(k, e)
        elif e.status == "succeeded" and e.value is not None:
            recorded.setdefault(measured_key(space, e.params, e.value), e)
    return waiting, recorded


def _bad_argument(name: str, message: str) -> ConfigError:
    """The error for a wrong argument of the Python API: which argument, what is wrong, what to give instead."""
    return ConfigError([Problem(name, message)])


def _check(name: str, ok: bool, what: str, got: Any) -> None:
    """The check of an argument's type or value: unless ``ok``, ConfigError ``name: expected WHAT (got TYPE VALUE)``."""
    if not ok:
        raise _bad_argument(name, f"expected {what} (got {type(got).__name__} {_shown(got)})")


def objective_value(value: Any, objective: str) -> tuple[float, dict]:
    """A told result as (value, outputs): a number, or a dict holding the objective (under its name or
    ``value``) and other outputs. ConfigError naming ``value`` otherwise: not a number, nan, inf, too large
    for a float (10**400), or a non-zero number too small for one (Decimal("1e-400") would be stored as 0)."""
    from oracles.base import value_range_problem

    outputs: dict = {}
    if isinstance(value, dict):
        keys = [k for k in (objective, "value") if k in value]
        if not keys:
            names = f"'{objective}' (the objective)" + (" or 'value'" if objective != "value" else "")
            raise _bad_argument("value", f"the outputs hold no {names} (keys: {', '.join(map(str, value)) or 'none'})")
        if len(keys) == 2:  # `tell --csv` with both columns is refused the same way
            raise _bad_argument("value", f"the outputs hold both '{objective}' (the objective) and 'value': keep one "
                                         "of them for the objective (rename the other)")
        blank = next((k for k in value if isinstance(k, str) and not k.strip()), None)
        if blank is not None:  # an export's header would have a blank cell, which import refuses
            raise _bad_argument("value", f"the outputs hold a key {blank!r} with no name; name each output")
        try:  # as the store keeps them (keys as text, nan as null)
            outputs = json_outputs({k: v for k, v in value.items() if k != keys[0]})
        except ValueError as exc:  # a circular reference, 1 and "1" as keys: the store could not keep them
            raise _bad_argument("value", f"the outputs are not JSON: {exc}") from None
        value = value[keys[0]]
    kind = getattr(getattr(value, "dtype", None), "kind", "")  # numpy's: b boolean, c complex
    if getattr(value, "ndim", 0):  # np.array([[7.0]]) has __float__, a list has not: one number is a scalar
        raise _bad_argument("value", f"the value {_shown(value)} is an array of shape {tuple(value.shape)}, not one "
                                     "number; tell each experiment's value on its own (value.item() for one element)")
    if isinstance(value, (bool, str, complex)) or kind in ("b", "c") or not hasattr(value, "__float__"):
        real = "real " if kind == "c" or isinstance(value, complex) else ""
        raise _bad_argument("value", f"the value {_shown(value)} is not a {real}number")
    try:
        number: float | None = float(value)
    except OverflowError:  # an int or a Fraction beyond a float's range
        number = None
    except Exception as exc:  # noqa: BLE001 - TypeError, ValueError, or the object's own __float__ failing
        raise _bad_argument("value", f"the value {_shown(value)} is not a number ({type(exc).__name__}: {exc})") \
            from None
    if number is None or (math.isinf(number) and isinstance(value, Decimal) and value.is_finite()):
        raise _bad_argument("value", f"the value {_shown(value)} is too large for a float (beyond +/-1.8e308); "
                                    "report the objective in other units (or its logarithm)")
    if not math.isfinite(number):
        raise _bad_argument("value", f"the value {number} is not a finite number")
    if number == 0.0 and value != 0:
        raise _bad_argument("value", f"the value {_shown(value)} is too small for a float: it would be stored as 0; "
                                    "report the objective in other units (or its logarithm)")
    too_large = value_range_problem(number)  # beyond 1e150: tell refuses it for an experiment and off-plan alike
    if too_large:
        raise _bad_argument("value", too_large)
    return number, outputs


def _ids(name: str, ids: Any) -> list[str]:
    """``ids`` (one experiment id, or a list of them; not empty) as a list of str; ConfigError naming ``name``."""
    if isinstance(ids, str):
        return [ids]
    _check(name, isinstance(ids, Iterable) and not isinstance(ids, (bytes, Mapping)),
           "an experiment id or a list of them", ids)
    ids = list(ids)
    wrong = next((i for i in ids if not isinstance(i, str)), None)
    if wrong is not None:
        raise _bad_argument(name, f"expected experiment ids (str); the list holds {type(wrong).__name__} "
                                 f"{_shown(wrong)}")
    if not ids:
        raise _bad_argument(name, "the list is empty; give the id of at least one experiment")
    return ids


_LOCKS: dict[tuple[str, str], threading.RLock] = {}  # (store URL, campaign name): the lock of its Campaign objects
_LOCKS_GUARD = threading.Lock()


def _campaign_lock(url: str, name: str) -> threading.RLock:
    """The lock shared by every Campaign object of this process for one campaign of one store."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((url, name), threading.RLock())


def _serialized(method: Callable) -> Callable:
    """``method`` run holding the campaign's lock: threads sharing a Campaign (or holding Campaign objects of the
    same campaign) take turns. Two engine steps of one process at once would take the campaign's lease from each
    other (it is this process's either way), and one of them would fail with LeaseLost."""
    @functools.wraps(method)
    def locked(self: "Campaign", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


def _as_records(params: Any) -> tuple[list[dict], bool]:
    """A params dict, a list of them, or a DataFrame, as a list of dicts (and whether it was a frame)."""
    if isinstance(params, dict):
        return [params], False
    to_dict = getattr(params, "to_dict", None)
    if callable(to_dict):  # a pandas DataFrame
        return list(to_dict("records")), True
    if not isinstance(params, (list, tuple)):
        raise LooplabError("params: expected a dict of input values, a list of them or a DataFrame (got "
                           f"{type(params).__name__} {params!r:.60})")
    wrong = next((p for p in params if not isinstance(p, dict)), None)
    if wrong is not None:
        raise LooplabError(f"params: expected a list of dicts of input values (it holds {type(wrong).__name__} "
                           f"{wrong!r:.60})")
    if not params:
        raise LooplabError("params: the list is empty; give at least one point")
    return [dict(p) for p in params], False


def _unknown_inputs(space: Any, params: dict, where: str, campaign: str) -> None:
    """LooplabError if ``params`` names something that is not an input (a misspelt input would be ignored)."""
    unknown = [str(k) for k in params if k not in space.names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], space.names, n=1)
        raise LooplabError(f"{where}: {', '.join(unknown)} {'is not an input' if len(unknown) == 1 else 'are not inputs'}"
                           f" of campaign {campaign}" + (f" (did you mean '{close[0]}'?)" if close else "")
                           + f"; its inputs: {', '.join(space.names)}")


class Campaign:
    """One campaign in a store, driven from Python (see the module docstring)."""

    def __init__(self, campaign: Any, store: Store, row: Any, notes: Sequence[str] = ()):
        self.campaign = campaign  # orchestrator.config.Campaign: spec, space, plugins
        self.store = store
        self.row = row
        # what opening it had to say: a stored setting this version refuses, replaced (stored_spec.py)
        self.notes = list(notes)
        self._lock = _campaign_lock(store.url, row.name)  # threads take turns (see _serialized)

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, spec: str | Path | dict, store: str | Store | None = None, *,
             base_dir: str | Path | None = None) -> "Campaign":
        """The campaign of a YAML file, a spec dict, or the name of a campaign already in the store.

        A new campaign is created in the store (with its ``initial.data``, if any); an existing one is
        resumed under the same rules as ``looplab run`` (budget, failure policy, description, executor,
        approval and acquisition.min_distance may change; anything else is refused, naming the fields).
        ``base_dir``: the folder relative paths of a dict spec are read from (default: the current folder).
        """
        from .config import campaign_from_spec, load_campaign, parse_spec
        from .engine import check_data_files, open_campaign

        _check("spec", isinstance(spec, (str, Path, dict)), "a campaign file's path, a spec dict or a campaign's name",
               spec)
        _check("store", store is None or isinstance(store, Store) or isinstance(store, str) and store.strip() != "",
               "a store URL such as 'sqlite:///runs/lab.db', a Store, or None (the default store)", store)
        _check("base_dir", base_dir is None or isinstance(base_dir, (str, Path)),
               "the folder (a str or Path) relative paths of a dict spec are read from", base_dir)
        if isinstance(spec, dict):
            folder = Path(os.path.realpath(base_dir or "."))
            if not folder.is_dir():
                raise _bad_argument("base_dir", f"'{base_dir}' is not a folder; give the folder the dict spec's "
                                                "relative paths are read from (default: the current folder)")
        st = store if isinstance(store, Store) else Store(store or default_url())
        if isinstance(spec, dict):
            try:
                campaign = campaign_from_spec(parse_spec(spec, "spec"), folder, "spec", data=True)
            except ConfigError as exc:  # a dict has no campaign file: its paths are read from base_dir
                said = f"relative to base_dir, here {folder}"
                raise ConfigError([Problem(p.path, p.message.replace("relative to the campaign file", said))
                                   for p in exc.problems], exc.source) from None
        elif Path(spec).suffix in (".yaml", ".yml") or Path(spec).is_file():
            campaign = load_campaign(spec, initial_data=False)  # read by the engine if it creates it
        else:  # a name
            from .report import rebuild_campaign

            row = st.get_campaign(str(spec))
            if row is None:
                names = ", ".join(c.name for c in st.list_campaigns()) or "(none)"
                raise LooplabError(f"'{spec}' is neither a campaign file nor a campaign in {st.display_url} "
                                   f"(campaigns there: {names})")
            notes: list[str] = []
            rebuilt = rebuild_campaign(row, notes)
            check_data_files(st, row, rebuilt)  # as opening it by its file would
            return cls(rebuilt, st, row, notes)
        notes = []
        row, _ = open_campaign(st, campaign, notes)
        return cls(campaign, st, row, notes)

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def objective(self) -> str:
        return self.campaign.spec.objective.name

    # -- ask ----------------------------------------------------------------------------------------

    @_serialized
    def ask(self, n: int | None = None, *, wait: float = 10.0, unless_waiting: bool = False) -> list[dict]:
        """New experiments as ``[{"id", "params"}]``, written to the store as ``proposed``.

        Default (``n`` None): as the engine's step, fill the free slots: at most ``budget.max_in_flight``
        experiments (default: the batch size) wait for results at once, so ``ask()`` proposes that many
        minus those still waiting (at most a batch), and none while as many wait: tell results first.
        ``ask(n)``: ``n`` more experiments, whatever waits. Experiments still waiting are pending for the
        acquisition (never proposed twice) and stay waiting. Fewer (or none) when the budget is (nearly)
        used up or the campaign has ended. When nothing is proposed though the campaign still runs, a
        :class:`NothingProposed` warning says why (slots full, budget used up while experiments wait, paused).
        The first ask of a new campaign returns its initial design (``initial.n`` experiments, whatever
        ``n``, fewer when earlier data stands in for some of them), as the engine's first step does.
        ``wait``: seconds to wait while another process holds the campaign (see the module docstring).
        ``unless_waiting``: propose nothing (return [], no warning) if experiments wait, as checked under the
        lease (two `looplab ask` at once hand out one batch, not two; the command explains it itself).
        """
        from oracles.manual import ManualOracle

        from .engine import Engine

        _check("n", n is None or (isinstance(n, Integral) and not isinstance(n, bool) and n >= 1),
               "a whole number of experiments >= 1, or None (fill the free slots)", n)
        _check("unless_waiting", isinstance(unless_waiting, bool), "True or False", unless_waiting)
        _check("wait", isinstance(wait, Real) and not isinstance(wait, bool) and 0 <= wait < math.inf,
               "a finite number of seconds >= 0", wait)
        n, wait = (None if n is None else int(n)), float(wait)  # numpy's numbers as Python's
        deadline = time.monotonic() + wait
        while True:
            try:
                engine = Engine(self.campaign, self.store, campaign_row=self.row, oracle=ManualOracle())
                break
            except LeaseHeld as exc:
                if time.monotonic() >= deadline:
                    raise LeaseHeld(f"{exc}. (A daemon or `looplab run` driving this campaign proposes by itself: "
                                    "read what waits with Campaign.pending() or `looplab ask`.)") from None
                time.sleep(0.2)
        with engine:
            if unless_waiting and self.store.experiments(self.row.id, IN_FLIGHT):
                return []
            report = engine.step(n=n)
        if not report.proposed:
            why = None if unless_waiting else self._why_none(report, n)
            if why:
                warnings.warn(why, NothingProposed, stacklevel=3)  # 3: the caller of the _serialized wrapper
            return []
        # with `approval: required` the batch waits for approval (`approve`) instead of being proposed
        return [{"id": e.id, "params": dict(e.params)}
                for e in self.store.experiments(self.row.id, ["proposed", AWAITING])
                if e.step == report.step and e.source != "retry"]

    def _why_none(self, report: Any, n: int | None) -> str | None:
        """Why a step of a campaign that still runs proposed nothing (None once it has ended: completed, stopped)."""
        from .control import budget_of
        from .engine import counted

        if report.done:
            return None
        head = f"campaign {self.name}: ask() proposed nothing"
        if report.status == "paused":
            return f"{head}: it is {report.message or 'paused'}; resume() it first"
        exps = self.store.experiments(self.row.id)
        waiting = report.in_flight + report.awaiting
        what = (f"{report.in_flight} experiment(s) wait for results"
                + (f", {report.awaiting} for approval (approve() or reject() them)" if report.awaiting else ""))
        budget = budget_of(self.store, self.row)
        if len(counted(exps, self.campaign.spec)) >= budget:
            return (f"{head}: its budget of {budget} experiments is used up and {what}; tell their results "
                    "(or raise the budget with extend())")
        limit = self.campaign.spec.budget.max_in_flight or self.campaign.spec.acquisition.batch_size
        if n is None and waiting >= limit:
            return (f"{head}: {what}, as many as may wait at once (budget.max_in_flight: {limit}; default: the "
                    "batch size); tell some results first, ask(n=...) for more regardless, or raise "
                    "budget.max_in_flight")
        return (f"{head}: the acquisition found no point apart from the experiments made or waiting (a pool's "
                f"candidates used up, or acquisition.min_distance); {what}")

    @_serialized
    def pending(self) -> list[dict]:
        """The experiments waiting for a result (in flight), oldest first, as ``[{"id", "params"}]``."""
        return [{"id": e.id, "params": dict(e.params)} for e in self.store.experiments(self.row.id, IN_FLIGHT)]

    # -- tell ---------------------------------------------------------------------------------------

    @_serialized
    def tell(self, id: str | None = None, value: Any = None, *, params: dict | None = None) -> str:
        """Record a result; returns the experiment's id.

        ``tell(id, value)``: the result of an experiment the campaign proposed; ``value`` is the objective
        (a number) or a dict of outputs holding it (under the objective's name, or ``value``).
        ``tell(params=..., value=...)``: a measurement of a point nobody proposed (an off-plan experiment:
        its own id ``<campaign>-x<k>``, source ``off-plan``); it counts as an observation and toward the
        budget. The params must lie in the space (a pool candidate; within bounds and constraints).
        Raises LooplabError (nothing written) for an unknown id, an experiment already told, a value that
        is not a finite number (or one a float cannot hold: 10**400, Decimal("1e-400")).
        """
        _check("id", id is None or isinstance(id, str), "the id (a str) of an experiment from ask()", id)
        number, outputs = objective_value(value, self.objective)
        if params is not None:
            if id is not None:
                raise LooplabError("tell: give an experiment id or params, not both")
            made = self._tell_off_plan(params, number, outputs)
            if self.settle() is None:
                self._said_after_end(f"the off-plan result {made} is")
            return made
        if id is None:
            raise LooplabError("tell: give the id of an experiment (from ask), or params= for an off-plan one")
        tell_results(self.store, self.row, [Result(str(id), "succeeded", number, outputs)])
        self.settle()
        return str(id)

    def settle(self) -> str | None:
        """End the campaign if the results told so far complete it (its budget used up with nothing waiting,
        or a stop rule such as ``budget.stop_at``), as the next ask would; returns "STATUS: why", or None
        while it runs on. ``tell`` calls it. A process driving the campaign (``looplab run``, a daemon)
        settles it at its own next step instead."""
        from oracles.manual import ManualOracle

        from .engine import Engine

        row = self.store.get_campaign(self.name)
        if row is None or row.status not in ("running", "paused"):
            return None
        try:
            engine = Engine(self.campaign, self.store, campaign_row=self.row, oracle=ManualOracle())
        except LeaseHeld:
            return None
        with engine:
            report = engine.settle()
        return None if report is None else f"{report.status}: {report.message}"

    def _said_after_end(self, what: str) -> None:
        """Warn (RecordedAfterEnd) when measurements (``what``: "the off-plan result ID is") went into a campaign
        that had ended: its message may quote a best they have since beaten."""
        from .control import budget_of
        from .engine import counted

        row = self.store.get_campaign(self.name)
        if row is None or row.status not in ("completed", "stopped"):
            return
        used, budget = len(counted(self.store.experiments(row.id), self.campaign.spec)), budget_of(self.store, row)
        warnings.warn(RecordedAfterEnd(
            f"campaign {self.name} is {row.status} ({row.message or 'ended'}): {what} "
            f"recorded as data ({used} experiment(s) of a budget of {budget}); the campaign stays {row.status}"),
            stacklevel=3)

    def _tell_off_plan(self, params: dict, value: float, outputs: dict) -> str:
        from .earlier import Measured, check_point, imported_experiments, measured_key, point_key

        space = self.campaign.space
        _check("params", isinstance(params, dict), "a dict of input values", params)
        _unknown_inputs(space, params, "params", self.name)
        point, why = check_point(space, params)
        if why is not None:
            raise LooplabError(f"params: {why}")
        row = Measured(None, point, value, outputs)

        def build(count: int, last: int) -> list:
            # in the store's write transaction, as import's checks: a point an experiment still waits at (for
            # approval or its result) would be measured twice; the same measurement told again (a script re-run
            # after a crash: fuzz round twenty) would count twice
            waiting, recorded = _taken(space, self.store.experiments(self.row.id))
            if (held := waiting.get(point_key(space, point))) is not None:
                raise _bad_argument("params", _waiting_here(self.name, held, space.is_pool, api=True))
            if (again := recorded.get(measured_key(space, point, value))) is not None:
                raise _bad_argument("params", f"the same inputs and value as experiment {again.id} ({again.source}), "
                                              "already recorded: told again, one measurement would count twice; a "
                                              "repeat measurement with another value is recorded")
            return imported_experiments(self.name, [row], start=count, source="off-plan", step=last)

        return self.store.add_measured(self.row.id, "off-plan", build)[0].id

    @_serialized
    def import_data(self, path: str | Path) -> list[str]:
        """Measurements made before (a CSV, see orchestrator/earlier.py) as succeeded experiments with
        source ``imported``; every row must lie in the space, else ConfigError listing them and nothing is
        written. Returns their ids."""
        from .earlier import imported_experiments, lookup_table_problem, measured_key, point_key, read_earlier, \
            repeated_rows

        _check("path", isinstance(path, (str, Path)), "the path (a str or Path) of a CSV file of measurements", path)
        space = self.campaign.space
        if own := lookup_table_problem(self.campaign.spec, Path(self.campaign.base_dir), Path(path).absolute(), ""):
            raise ConfigError([own])
        rows = read_earlier(Path(path), space, self.objective, field="")
        repeated = repeated_rows(Path(path), rows, space)  # one file holding a row twice: as if imported twice
        if repeated:
            raise ConfigError(repeated)
        # a filled-in `looplab ask` worksheet names experiments that already exist: importing it would add
        # them again as new rows and leave the proposed ones waiting
        known = {e.id: e for e in self.store.experiments(self.row.id)}
        named = [(m.line, m.outputs.get("id")) for m in rows if str(m.outputs.get("id", "")) in known]
        if named:
            line, eid = named[0]
            told = sum(known[str(i)].status == "succeeded" for _, i in named)
            if told == len(named):  # every one has its result already: the campaign's own export, say
                raise ConfigError([Problem("", f"{Path(path).name}, line {line}: the id {eid} is an experiment of "
                                               f"campaign {self.name} that has its result already, as have all "
                                               f"{len(named)} row(s) with such ids (an export of this campaign?): "
                                               "they are in the store; import measurements made elsewhere")])
            raise ConfigError([Problem("", f"{Path(path).name}, line {line}: the id {eid} is an experiment of "
                                           f"campaign {self.name} already ({len(named)} row(s) like it): this looks "
                                           "like an `ask` worksheet; record it with `looplab tell "
                                           f"{self.name} --csv {Path(path).name}` instead, or drop the id column "
                                           "to import the rows as new measurements")])
        # a file imported twice would count every measurement twice (the model would take them for repeats)
        def key(params: dict, value: Any) -> tuple:
            return measured_key(space, params, value)

        def build(count: int, last: int) -> list:
            # checked inside the store's write transaction: two imports of one file at once (two processes)
            # both passed a check made before it, and stored every row twice
            # (any experiment with a result: an export of the campaign with its id column dropped holds its own)
            # a row at the point of an experiment still waiting (for approval, or for its result) would have the
            # campaign measure that point twice (a pool's row: edit refuses it, import took it: fuzz round)
            waiting, before = _taken(space, self.store.experiments(self.row.id))
            held = [(m.line, waiting[k]) for m in rows if (k := point_key(space, m.params)) in waiting]
            if held:
                raise ConfigError([Problem("", f"{Path(path).name}, line {line}: "
                                               f"{_waiting_here(self.name, e, space.is_pool)}") for line, e in held])
            again = [(m.line, before[key(m.params, m.value)]) for m in rows if key(m.params, m.value) in before]
            if again:
                line, e = again[0]
                whence = "was the file imported before?" if e.source == "imported" else \
                    "is the file an export of this campaign?"
                raise ConfigError([Problem("", f"{Path(path).name}, line {line}: the same inputs and value as the "
                                               f"{'imported ' if e.source == 'imported' else ''}experiment {e.id} "
                                               f"({len(again)} of the file's {len(rows)} row(s) are in the store "
                                               f"already: {whence}); remove those rows to import the others")])
            return imported_experiments(self.name, rows, start=count)

        ids = [e.id for e in self.store.add_measured(self.row.id, "imported", build)]
        self._said_after_end(f"the {len(ids)} imported row(s) are")
        return ids

    # -- reading --------------------------------------------------------------------------------------

    @_serialized
    def experiments(self, *, frame: bool = False) -> Any:
        """Every experiment in order: ``[{"id", "status", "source", "value", **params, "outputs"}]`` (a pandas
        DataFrame with ``frame=True``, which needs pandas installed)."""
        records = [{"id": e.id, "status": e.status, "source": e.source, "value": e.value, **e.params,
                    "outputs": dict(e.outputs or {})} for e in self.store.experiments(self.row.id)]
        if frame:
            try:
                import pandas as pd
            except ImportError:
                raise LooplabError("experiments(frame=True) needs pandas: pip install pandas") from None
            return pd.DataFrame.from_records(records)
        return records

    @_serialized
    def best(self) -> dict | None:
        """The best measured experiment ``{"id", "params", "value", "source"}`` for the goal, or None."""
        goal, target = self.campaign.spec.objective.goal, self.campaign.spec.objective.target_value

        def score(v: float) -> float:  # higher is better, as Proposer.score
            return v if goal == "max" else -v if goal == "min" else -abs(v - target)

        done = [e for e in self.store.experiments(self.row.id, ["succeeded"]) if e.value is not None]
        if not done:
            return None
        e = max(done, key=lambda e: (score(e.value), -e.seq))
        return {"id": e.id, "params": dict(e.params), "value": e.value, "source": e.source}

    @_serialized
    def predict(self, params: Any) -> Any:
        """The model's prediction at points of the space, fitted on every observation as the engine's next
        step would fit it: ``[{"mean", "sd", "acquisition"}]`` per point (a dict, a list of dicts or a
        DataFrame; a DataFrame comes back with those three columns added).

        mean and sd are in the objective's units, except when the model is fitted on a transformed scale
        (``model.transform``, or a target goal): then they are on that scale (higher is better), as the
        report's model plots show. acquisition: the campaign's acquisition of a single next experiment
        there, with the experiments in flight as pending (as the next step computes it).
        """
        import numpy as np

        from .earlier import check_point
        from .report import fit_model

        records, is_frame = _as_records(params)
        points = []
        for i, r in enumerate(records):
            if not is_frame:  # a DataFrame may carry other columns (ids, measured values); a dict is only a point
                _unknown_inputs(self.campaign.space, r, f"params[{i}]", self.name)
            point, why = check_point(self.campaign.space, r)
            if why is not None:
                raise LooplabError(f"params[{i}]: {why}")
            points.append(point)
        exps = self.store.experiments(self.row.id)
        if sum(e.status == "succeeded" and e.value is not None for e in exps) < 2:
            raise LooplabError("predict needs at least 2 measured experiments (tell some results first)")
        view = fit_model(self.row, self.store, exps)
        X = self.campaign.space.encode(points)
        mean, var = view.model.predict(X)
        mean = view.display.mean(np.asarray(mean, dtype=float).ravel())
        sd = np.sqrt(np.maximum(np.asarray(var, dtype=float).ravel(), 0.0))
        acq = np.asarray(view.acquisition(X), dtype=float).ravel()
        out = [{"mean": float(m), "sd": float(s), "acquisition": float(a)} for m, s, a in zip(mean, sd, acq)]
        if is_frame:
            frame = params.copy()
            for k in ("mean", "sd", "acquisition"):
                frame[k] = [o[k] for o in out]
            return frame
        return out[0] if isinstance(params, dict) else out

    # -- approval and control (orchestrator.control; the same as looplab approve, reject, ...) ---------------

    @_serialized
    def awaiting(self) -> list[dict]:
        """The experiments awaiting approval (``approval: required``), oldest first, as ``[{"id", "params"}]``."""
        return [{"id": e.id, "params": dict(e.params)} for e in self.store.experiments(self.row.id, [AWAITING])]

    @_serialized
    def approve(self, ids: str | Sequence[str] | None = None) -> list[str]:
        """Approve experiments awaiting approval: an id, a list of them, or all of them when ``ids`` is None
        (an empty list is refused, never taken for all); returns the ids approved."""
        from . import control

        return control.approve(self.store, self.name, None if ids is None else _ids("ids", ids))

    @_serialized
    def reject(self, ids: str | Sequence[str], *, reason: str = "") -> list[str]:
        """Reject experiments awaiting approval (an id or a list of them; there is no "all"): not counted,
        and their points never proposed again."""
        from . import control

        _check("ids", ids is not None, "the ids of the experiments to reject (there is no 'all': see awaiting())", ids)
        _check("reason", isinstance(reason, str), "a text (str)", reason)
        return control.reject(self.store, self.name, _ids("ids", ids), reason=reason)

    @_serialized
    def edit(self, id: str, **params: Any) -> dict:
        """Change params of an experiment awaiting approval (checked against the space); returns it."""
        from . import control

        _check("id", isinstance(id, str), "the id (a str) of an experiment awaiting approval", id)
        e = control.edit(self.store, self.name, id, params)
        return {"id": e.id, "params": dict(e.params)}

    @_serialized
    def pause(self, *, reason: str = "") -> str:
        from . import control

        _check("reason", isinstance(reason, str), "a text (str)", reason)
        return control.pause(self.store, self.name, reason=reason)

    @_serialized
    def resume(self) -> str:
        from . import control

        return control.resume(self.store, self.name)

    @_serialized
    def stop(self, *, reason: str = "") -> str:
        from . import control

        _check("reason", isinstance(reason, str), "a text (str)", reason)
        return control.stop(self.store, self.name, reason=reason)

    @_serialized
    def extend(self, budget: int) -> str:
        from . import control

        _check("budget", isinstance(budget, Integral) and not isinstance(budget, bool), "a whole number of "
               "experiments", budget)
        try:
            return control.extend(self.store, self.name, int(budget))  # numpy's integers as Python's
        except LooplabError as exc:  # control's messages name the command line's option
            text = str(exc)
            if not text.startswith("--budget:"):
                raise
            raise _bad_argument("budget", text.removeprefix("--budget:").strip()) from None

    @_serialized
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Campaign":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Campaign({self.name!r}, store={self.store.display_url!r})"


def tell_results(store: Store, row: Any, results: Sequence[Result], *,
                 where: Sequence[str] | None = None) -> list[str]:
    """Record told results, all or none (see :meth:`Store.tell`); ConfigError naming each refused one by
    ``where[i]`` (e.g. "results.csv, line 3") or its id. Returns the ids recorded."""
    from oracles.base import value_range_problem

    ranges = {i: value_range_problem(float(r.value)) for i, r in enumerate(results)
              if r.status == "succeeded" and r.value is not None}
    problems = {i: why for i, why in ranges.items() if why} or store.tell(row.id, results)
    if problems:
        raise ConfigError([Problem(where[i] if where else "id", message) for i, message in sorted(problems.items())])
    return [r.experiment_id for r in results]


__all__ = ["Campaign", "NothingProposed", "RecordedAfterEnd", "objective_value", "tell_results"]
