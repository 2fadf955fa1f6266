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
"""

from __future__ import annotations

import difflib
import math
import time
from pathlib import Path
from typing import Any, Sequence

from oracles.base import Result

from .errors import ConfigError, LeaseHeld, LooplabError, Problem
from .store import AWAITING, IN_FLIGHT, Store, default_url


def objective_value(value: Any, objective: str) -> tuple[float, dict]:
    """A told result as (value, outputs): a number, or a dict holding the objective (under its name or
    ``value``) and other outputs. LooplabError saying what is wrong otherwise (not a number, nan, inf)."""
    outputs: dict = {}
    if isinstance(value, dict):
        keys = [k for k in (objective, "value") if k in value]
        if not keys:
            names = f"'{objective}' (the objective)" + (" or 'value'" if objective != "value" else "")
            raise LooplabError(f"the outputs hold no {names} (keys: {', '.join(map(str, value)) or 'none'})")
        outputs = {str(k): v for k, v in value.items() if k != keys[0]}
        value = value[keys[0]]
    if isinstance(value, bool) or isinstance(value, str) or not hasattr(value, "__float__"):
        raise LooplabError(f"the value {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise LooplabError(f"the value {number} is not a finite number")
    return number, outputs


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

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, spec: str | Path | dict, store: str | Store | None = None, *,
             base_dir: str | Path | None = None) -> "Campaign":
        """The campaign of a YAML file, a spec dict, or the name of a campaign already in the store.

        A new campaign is created in the store (with its ``initial.data``, if any); an existing one is
        resumed under the same rules as ``looplab run`` (budget, failure policy, description and executor
        may change; anything else is refused, naming the fields). ``base_dir``: the folder relative paths
        of a dict spec are read from (default: the current folder).
        """
        from .config import campaign_from_spec, load_campaign, parse_spec
        from .engine import open_campaign

        if not isinstance(spec, (str, Path, dict)):
            raise LooplabError(f"spec: expected a campaign file's path, a spec dict or a campaign's name (got a "
                               f"{type(spec).__name__})")
        st = store if isinstance(store, Store) else Store(store or default_url())
        if isinstance(spec, dict):
            folder = Path(base_dir or ".").resolve()
            campaign = campaign_from_spec(parse_spec(spec, "spec"), folder, "spec", data=True)
        elif Path(spec).suffix in (".yaml", ".yml") or Path(spec).is_file():
            campaign = load_campaign(spec)
        else:  # a name
            from .report import rebuild_campaign

            row = st.get_campaign(str(spec))
            if row is None:
                names = ", ".join(c.name for c in st.list_campaigns()) or "(none)"
                raise LooplabError(f"'{spec}' is neither a campaign file nor a campaign in {st.display_url} "
                                   f"(campaigns there: {names})")
            notes: list[str] = []
            rebuilt = rebuild_campaign(row, notes)
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

    def ask(self, n: int | None = None, *, wait: float = 10.0, unless_waiting: bool = False) -> list[dict]:
        """The next ``n`` experiments (default: the campaign's batch size) as ``[{"id", "params"}]``,
        written to the store as ``proposed``; fewer (or none) when the budget is (nearly) used up or the
        campaign has ended. Experiments still waiting are pending for the acquisition (never proposed
        twice) and stay waiting: ask again without telling and you get *more* experiments.
        The first ask of a new campaign returns its initial design (``initial.n`` experiments, whatever
        ``n``, fewer when earlier data stands in for some of them), as the engine's first step does.
        ``unless_waiting``: propose nothing (return []) if experiments wait, as checked under the lease (two
        `looplab ask` at once hand out one batch, not two).
        """
        from oracles.manual import ManualOracle

        from .engine import Engine

        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise LooplabError(f"n: expected a whole number of experiments >= 1 (got {n!r})")
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
            return []
        # with `approval: required` the batch waits for approval (`approve`) instead of being proposed
        return [{"id": e.id, "params": dict(e.params)}
                for e in self.store.experiments(self.row.id, ["proposed", AWAITING])
                if e.step == report.step and e.source != "retry"]

    def pending(self) -> list[dict]:
        """The experiments waiting for a result (in flight), oldest first, as ``[{"id", "params"}]``."""
        return [{"id": e.id, "params": dict(e.params)} for e in self.store.experiments(self.row.id, IN_FLIGHT)]

    # -- tell ---------------------------------------------------------------------------------------

    def tell(self, id: str | None = None, value: Any = None, *, params: dict | None = None) -> str:
        """Record a result; returns the experiment's id.

        ``tell(id, value)``: the result of an experiment the campaign proposed; ``value`` is the objective
        (a number) or a dict of outputs holding it (under the objective's name, or ``value``).
        ``tell(params=..., value=...)``: a measurement of a point nobody proposed (an off-plan experiment:
        its own id ``<campaign>-x<k>``, source ``off-plan``); it counts as an observation and toward the
        budget. The params must lie in the space (a pool candidate; within bounds and constraints).
        Raises LooplabError (nothing written) for an unknown id, an experiment already told, a value that
        is not a finite number.
        """
        number, outputs = objective_value(value, self.objective)
        if params is not None:
            if id is not None:
                raise LooplabError("tell: give an experiment id or params, not both")
            return self._tell_off_plan(params, number, outputs)
        if id is None:
            raise LooplabError("tell: give the id of an experiment (from ask), or params= for an off-plan one")
        tell_results(self.store, self.row, [Result(str(id), "succeeded", number, outputs)])
        return str(id)

    def _tell_off_plan(self, params: dict, value: float, outputs: dict) -> str:
        from .earlier import Measured, check_point, imported_experiments

        if not isinstance(params, dict):
            raise LooplabError(f"params: expected a dict of input values (got a {type(params).__name__})")
        _unknown_inputs(self.campaign.space, params, "params", self.name)
        point, why = check_point(self.campaign.space, params)
        if why is not None:
            raise LooplabError(f"params: {why}")
        row = Measured(None, point, value, outputs)
        made = self.store.add_measured(
            self.row.id, "off-plan",
            lambda count, last: imported_experiments(self.name, [row], start=count, source="off-plan",
                                                     step=last))
        return made[0].id

    def import_data(self, path: str | Path) -> list[str]:
        """Measurements made before (a CSV, see orchestrator/earlier.py) as succeeded experiments with
        source ``imported``; every row must lie in the space, else ConfigError listing them and nothing is
        written. Returns their ids."""
        from .earlier import imported_experiments, read_earlier

        rows = read_earlier(Path(path), self.campaign.space, self.objective, field="")
        # a filled-in `looplab ask` worksheet names experiments that already exist: importing it would add
        # them again as new rows and leave the proposed ones waiting
        known = {e.id for e in self.store.experiments(self.row.id)}
        named = [(m.line, m.outputs.get("id")) for m in rows if str(m.outputs.get("id", "")) in known]
        if named:
            line, eid = named[0]
            raise ConfigError([Problem("", f"{Path(path).name}, line {line}: the id {eid} is an experiment of "
                                           f"campaign {self.name} already ({len(named)} row(s) like it): this looks "
                                           "like an `ask` worksheet; record it with `looplab tell "
                                           f"{self.name} --csv {Path(path).name}` instead, or drop the id column "
                                           "to import the rows as new measurements")])
        # a file imported twice would count every measurement twice (the model would take them for repeats)
        def key(params: dict, value: Any) -> tuple:
            return tuple(sorted((k, str(v)) for k, v in params.items())), repr(float(value))

        before = {key(e.params, e.value): e.id for e in self.store.experiments(self.row.id)
                  if e.source == "imported" and e.value is not None}
        again = [(m.line, before[key(m.params, m.value)]) for m in rows if key(m.params, m.value) in before]
        if again:
            line, eid = again[0]
            raise ConfigError([Problem("", f"{Path(path).name}, line {line}: the same inputs and value as the "
                                           f"imported experiment {eid} ({len(again)} of the file's {len(rows)} "
                                           "row(s) are in the store already: was the file imported before?); "
                                           "remove those rows to import the others")])
        made = self.store.add_measured(
            self.row.id, "imported", lambda count, last: imported_experiments(self.name, rows, start=count))
        return [e.id for e in made]

    # -- reading --------------------------------------------------------------------------------------

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

    def awaiting(self) -> list[dict]:
        """The experiments awaiting approval (``approval: required``), oldest first, as ``[{"id", "params"}]``."""
        return [{"id": e.id, "params": dict(e.params)} for e in self.store.experiments(self.row.id, [AWAITING])]

    def approve(self, ids: Sequence[str] | None = None) -> list[str]:
        """Approve experiments awaiting approval (all of them when ``ids`` is None); returns the ids approved."""
        from . import control

        return control.approve(self.store, self.name, [ids] if isinstance(ids, str) else list(ids) if ids else None)

    def reject(self, ids: Sequence[str], *, reason: str = "") -> list[str]:
        """Reject experiments awaiting approval: not counted, and their points never proposed again."""
        from . import control

        return control.reject(self.store, self.name, [ids] if isinstance(ids, str) else list(ids), reason=reason)

    def edit(self, id: str, **params: Any) -> dict:
        """Change params of an experiment awaiting approval (checked against the space); returns it."""
        from . import control

        e = control.edit(self.store, self.name, id, params)
        return {"id": e.id, "params": dict(e.params)}

    def pause(self, *, reason: str = "") -> str:
        from . import control

        return control.pause(self.store, self.name, reason=reason)

    def resume(self) -> str:
        from . import control

        return control.resume(self.store, self.name)

    def stop(self, *, reason: str = "") -> str:
        from . import control

        return control.stop(self.store, self.name, reason=reason)

    def extend(self, budget: int) -> str:
        from . import control

        return control.extend(self.store, self.name, budget)

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


__all__ = ["Campaign", "objective_value", "tell_results"]
