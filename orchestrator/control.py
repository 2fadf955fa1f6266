"""A person in the loop: approve, reject or edit proposed experiments; pause, resume, stop or extend a campaign.

Every function here writes to the store only, in one transaction, and checks everything before it writes:
a bad input raises :class:`~orchestrator.errors.LooplabError` (one line, naming the id or the parameter)
and changes nothing. The campaign's driver (``looplab run``, the daemon, or none) obeys what is written:

- **approval** (``approval: required`` in the campaign file): the engine writes each proposed batch as
  ``awaiting_approval`` and dispatches nothing of it. :func:`approve` moves experiments to ``proposed``; the
  driver dispatches them at its next step, once (a driver killed in between dispatches them when it starts
  again, like anything it left in flight). :func:`reject` moves them to ``rejected``: final, not counted toward
  the budget, and never proposed again (a pool's row; in a continuous space anything within
  ``proposer.REJECTED_RADIUS`` of it). :func:`edit` changes the params of one that awaits approval (validated
  against the space; the params it had are kept in the store's ``reviews``); it keeps waiting.
- **control**: :func:`pause`, :func:`resume`, :func:`stop` and :func:`extend` record the wish (the store's
  ``campaign_control`` row) for the driver to obey at its next step. When no process drives the campaign, the
  wish is applied to the campaign's status at once, under the campaign's lease (taken for that moment), so no
  driver can start in between.

Functions take the store and the campaign's name, and ``by`` (who asks; default ``user@host``).
"""

from __future__ import annotations

import difflib
import getpass
import math
import os
import socket
from numbers import Integral
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ConfigError, LeaseHeld, LooplabError
from .store import AWAITING, IN_FLIGHT, PENDING, UNCOUNTED, Campaign, Control, Experiment, Fence, Store, check_spec


def who() -> str:
    """``user@host``: who asked, as recorded with a decision or a wish."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without /etc/passwd entry)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def campaign(store: Store, name: str) -> Campaign:
    """The stored campaign ``name``; a LooplabError naming close matches when there is none."""
    row = store.get_campaign(name)
    if row is None:
        names = [c.name for c in store.list_campaigns()]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise LooplabError(f"NAME: no campaign named '{name}' in {store.display_url}.{hint} Campaigns there: "
                           f"{', '.join(names) or '(none)'}")
    return check_spec(row)


def budget_of(store: Store, row: Campaign, control: Control | None = None) -> int:
    """The campaign's budget now: its file's, or the higher one a user set with :func:`extend`."""
    control = store.control(row.id) if control is None else control
    return max(int(row.spec["budget"]["max_experiments"]), control.budget or 0)


# ----------------------------------------------------------------------------- approval


def approve(store: Store, name: str, ids: Sequence[str] | None = None, *, by: str | None = None) -> list[str]:
    """Approve experiments awaiting approval (every one when ``ids`` is None or empty); returns the ids
    approved (empty when none awaited). The campaign's driver dispatches them at its next step."""
    row = campaign(store, name)
    done, bad = store.review_experiments(row.id, list(ids) if ids else None, action="approved",
                                         to_status="proposed", by=by or who())
    if bad:
        raise LooplabError(_not_waiting(row.name, bad, "approve"))
    return done


def reject(store: Store, name: str, ids: Sequence[str], *, reason: str = "", by: str | None = None) -> list[str]:
    """Reject experiments awaiting approval: they end as ``rejected`` (not counted toward the budget) and their
    points are never proposed again. Returns the ids rejected."""
    row = campaign(store, name)
    if not ids:
        raise LooplabError("IDS: give the id of each experiment to reject (see: looplab status " + row.name + ")")
    done, bad = store.review_experiments(row.id, list(ids), action="rejected", to_status="rejected",
                                         reason=reason, by=by or who())
    if bad:
        raise LooplabError(_not_waiting(row.name, bad, "reject"))
    return done


def edit(store: Store, name: str, experiment_id: str, params: dict[str, Any], *,
         by: str | None = None) -> Experiment:
    """Change some params of an experiment awaiting approval (values may be typed, or text as typed on a
    command line); the others keep theirs. Validated against the campaign's space: parameter names, bounds,
    categorical levels, sum constraints; in a pool, the result must be a row of the pool that no other
    experiment has used, and in a parameter space it must not be the params of another one (a rejected one
    included; one cancelled by the campaign's ending does not count, as for the engine's ``used_points``).
    The experiment keeps waiting for approval; returns it as it is now."""
    row = campaign(store, name)
    exp = _experiment(store, row, experiment_id)
    if exp.status != AWAITING:
        raise LooplabError(_not_waiting(row.name, {experiment_id: exp.status}, "edit"))
    if not params:
        raise LooplabError("PARAMS: give at least one param=value to change (e.g. x=0.3)")
    space = _space(row)
    new = dict(exp.params)
    for key, value in params.items():
        new[key] = _value(space, row.name, key, value)
    _check_point(space, new, params)
    _not_taken(store, row, space, exp, new, params)
    if space.is_pool:
        new = dict(space.candidates[space.index_of(new)])  # the row as the pool writes it
    if new == exp.params:
        return exp
    status = store.edit_experiment(row.id, experiment_id, new, by=by or who())
    if status is not None:  # decided by someone else in the meantime
        raise LooplabError(_not_waiting(row.name, {experiment_id: status or None}, "edit"))
    return _experiment(store, row, experiment_id)


def _not_taken(store: Store, row: Campaign, space: Any, exp: Experiment, new: dict, changed: dict) -> None:
    """LooplabError when ``new`` is the point of another experiment of the campaign that the engine would not
    propose again (``engine.used_points``: any but one cancelled, unmeasured, by the campaign's ending), a
    rejected one included: in a pool, its row; in a parameter space, the same values (floats to 9 decimals,
    as the engine's ``Proposer.key``). A continuous space took any such point (fuzz round: an edit to the exact
    params of a waiting and of a rejected experiment), where a pool refused the row."""
    from .earlier import point_key

    key = point_key(space, new)
    if key is None:
        return
    for other in store.experiments(row.id):
        if other.id == exp.id or (other.status == "cancelled" and (other.error or "").startswith(ENDED)):
            continue
        if point_key(space, other.params) != key:
            continue
        why = ": a rejected point is never proposed again" if other.status == "rejected" else ""
        if space.is_pool:
            raise LooplabError(f"{_assignments(changed)}: this pool row is already experiment {other.id} "
                               f"({other.status}){why}; choose a row no experiment has used")
        raise LooplabError(f"{_assignments(changed)}: these are the params of experiment {other.id} "
                           f"({other.status}){why}; choose values no other experiment has")


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["x=0.3", "solvent=water"]`` -> ``{"x": "0.3", "solvent": "water"}`` (values stay text: :func:`edit`
    reads them by each parameter's type)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LooplabError(f"PARAMS: '{item}' is not param=value (e.g. x=0.3)")
        if key in out:
            raise LooplabError(f"{key}: given twice ({key}={out[key]} and {item}); give each param once")
        out[key] = value.strip()
    return out


def _not_waiting(name: str, bad: dict[str, str | None], verb: str) -> str:
    unknown = [i for i, s in bad.items() if s is None]
    other = [f"{i} ({s})" for i, s in bad.items() if s is not None]
    parts = []
    if unknown:
        parts.append(f"no experiment {', '.join(unknown)} in campaign '{name}'")
    if other:
        parts.append(f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} not awaiting approval")
    return (f"IDS: {'; '.join(parts)}; nothing was changed. Only experiments awaiting approval can be "
            f"{ {'approve': 'approved', 'reject': 'rejected', 'edit': 'edited'}[verb] } "
            f"(see: looplab status {name})")


def _experiment(store: Store, row: Campaign, experiment_id: str) -> Experiment:
    found = [e for e in store.experiments(row.id) if e.id == experiment_id]
    if not found:
        raise LooplabError(f"ID: no experiment '{experiment_id}' in campaign '{row.name}' "
                           f"(see: looplab status {row.name})")
    return found[0]


def _space(row: Campaign) -> Any:
    """The stored campaign's space. Only the space block is read: a setting elsewhere that this version
    refuses (a campaign stored before that check) does not keep a person from telling a result."""
    from pydantic import ValidationError

    from .config import SpaceSpec, problems_from_validation
    from .space import build_space

    try:
        space = SpaceSpec.model_validate(row.spec.get("space"))
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, prefix="space", model=SpaceSpec), "the stored campaign") from None
    return build_space(space, Path(row.base_dir or "."))


def _assignments(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _value(space: Any, name: str, key: str, value: Any) -> Any:
    """``value`` as parameter ``key`` holds it; LooplabError naming the parameter when it cannot."""
    from .config import CategoricalParameter, IntParameter

    if key not in space.names:
        close = difflib.get_close_matches(key, space.names, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise LooplabError(f"{key}: not a parameter of campaign '{name}'.{hint} Its parameters: "
                           f"{', '.join(space.names)}")
    if space.is_pool:
        if key in space.categorical or any(isinstance(r[key], str) for r in space.candidates[:1]):
            return str(value)
        return _number(key, value)
    p = next(p for p in space.parameters if p.name == key)
    if isinstance(p, CategoricalParameter):
        for c in p.choices:
            if c == value or str(c) == str(value):
                return c
        raise LooplabError(f"{key}: '{value}' is not one of its levels: {', '.join(str(c) for c in p.choices)}")
    x = _number(key, value)
    if isinstance(p, IntParameter):
        if x != int(x):
            raise LooplabError(f"{key}: must be a whole number (got {value})")
        x = int(x)
    if not p.low <= x <= p.high:
        raise LooplabError(f"{key}: {value} is outside its bounds [{p.low:g}, {p.high:g}]")
    return x


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise LooplabError(f"{key}: must be a number, not the boolean {value}")
    from oracles.csvfile import number_hint, strict_float

    try:
        x = strict_float(value)
    except (TypeError, ValueError) as exc:
        hint = number_hint(value, exc)
        raise LooplabError(f"{key}: must be a number (got '{value}'{f'; {hint}' if hint else ''})") from None
    if not math.isfinite(x):
        raise LooplabError(f"{key}: must be a finite number (got {value})")
    return x


def _check_point(space: Any, params: dict, changed: dict) -> None:
    """The whole point: a row of the pool, or inside every sum constraint."""
    if space.is_pool:
        if space.index_of(params) is None:
            raise LooplabError(f"{_assignments(changed)}: no row of the pool {space.path} has the inputs "
                               f"{_assignments({k: params[k] for k in space.names})}; choose a row of the pool")
        return
    for c in space.constraints:
        total = sum(float(params[n]) for n in c.parameters)
        if abs(total - c.total) > 1e-6 * max(1.0, abs(c.total)):
            raise LooplabError(f"{'+'.join(c.parameters)}: sum to {total:g} after this edit; the campaign's "
                               f"constraint needs {c.total:g} (edit the others too)")


# ----------------------------------------------------------------------------- control


def pause(store: Store, name: str, *, reason: str = "", by: str | None = None) -> str:
    """No new proposals from the driver's next step on (results of experiments in flight are still recorded,
    and approved ones are still dispatched). Returns what was done, as a sentence."""
    row = campaign(store, name)
    _not_ended(row, "pause")
    control = store.control(row.id)
    if control.state == "paused":
        return f"campaign '{row.name}' is already paused ({asked('paused', control)})"
    by = by or who()
    control = store.set_control(row.id, state="paused", reason=reason, by=by)
    holder = _apply(store, row, lambda fence: store.update_campaign(
        row.id, fence=fence, status="paused", message=asked("paused", control)))
    if holder is None:
        return (f"campaign '{row.name}' paused: nothing new will be proposed until `looplab resume {row.name}` "
                "(no process runs it now; one that starts keeps it paused)")
    return (f"pause of '{row.name}' requested: {holder} applies it at its next step; experiments already in "
            f"flight finish and are recorded; `looplab status {row.name}` shows when it is paused")


EXHAUSTED = "the search space is exhausted"  # how the message of a campaign with nothing left to propose starts
ENDED = "campaign ended: "  # how the error of an experiment cancelled by its campaign's ending starts
# how the message of a campaign ended by a stop rule, not by its budget, starts (engine._stop_rules): a higher
# budget would end such a campaign again at its next step
STOP_RULE_ENDINGS = ("stop_at reached", "patience:")


def resume(store: Store, name: str, *, by: str | None = None) -> str:
    """Undo a pause or a stop: the campaign runs on (a daemon watching its file picks a stopped one up again
    at its next scan; else `looplab run FILE`)."""
    row = campaign(store, name)
    if row.status == "completed":
        if (row.message or "").startswith(EXHAUSTED):
            raise LooplabError(f"NAME: campaign '{row.name}' has completed because {_nothing_left(row)}")
        how = ("change that rule in the campaign file (budget.stop_at or budget.patience) and run it again"
               if (row.message or "").startswith(STOP_RULE_ENDINGS) else
               f"raise its budget: looplab extend {row.name} --budget N")  # extend refuses a stop rule's ending
        raise LooplabError(f"NAME: campaign '{row.name}' has completed ({row.message or 'done'}); to run it "
                           f"further {how}")
    control = store.control(row.id)
    if control.state == "running" and row.status not in ("paused", "stopped"):
        return f"campaign '{row.name}' is not paused or stopped: nothing to resume"
    by = by or who()
    # a stopped campaign's failures so far no longer count toward failures.max_failure_rate: whoever resumes
    # it says the cause is fixed (else the failure policy would stop it again before a new experiment ran)
    after = 1 + max((e.seq for e in store.experiments(row.id)), default=-1) if row.status == "stopped" else None
    store.set_control(row.id, state="running", by=by, failures_from=after)
    holder = _apply(store, row, lambda fence: store.update_campaign(
        row.id, fence=fence, status="running", message=f"resumed by {by}"))
    if holder is None:
        return (f"campaign '{row.name}' resumed: a daemon watching its file picks it up at its next scan; "
                f"without one: looplab run FILE")
    return f"resume of '{row.name}' requested: {holder} applies it at its next step"


def stop(store: Store, name: str, *, reason: str = "", by: str | None = None) -> str:
    """End the campaign: status ``stopped``; every experiment in flight or awaiting approval is cancelled (the
    driver asks its oracle to cancel those it dispatched). `looplab resume` undoes it."""
    row = campaign(store, name)
    control = store.control(row.id)
    if row.status == "completed":
        raise LooplabError(f"NAME: campaign '{row.name}' has already completed ({row.message or 'done'}); "
                           "nothing to stop")
    if control.state == "stopped" and row.status == "stopped":
        return f"campaign '{row.name}' is already stopped ({row.message})"
    by = by or who()
    control = store.set_control(row.id, state="stopped", reason=reason, by=by)
    message = asked("stopped", control)
    cancelled: list[Experiment] = []
    from oracles.base import Result

    def end(fence: Fence) -> None:
        cancelled.extend(store.experiments(row.id, PENDING))
        store.record_results(row.id, [Result(e.id, "cancelled", error=f"{ENDED}{message}")
                                      for e in cancelled], fence=fence)
        store.update_campaign(row.id, fence=fence, status="stopped", message=message)

    holder = _apply(store, row, end)
    if holder is None:
        sent = sum(e.status in IN_FLIGHT and e.status != "proposed" for e in cancelled)
        note = (f"; {sent} of them had been handed to the oracle, which no process is connected to now: an "
                "instrument that has them is not told" if sent else "")
        return f"campaign '{row.name}' stopped; {len(cancelled)} experiment(s) in flight or awaiting approval " \
               f"cancelled{note}"
    return (f"stop of '{row.name}' requested: {holder} applies it at its next step (it cancels what is in flight "
            "or awaiting approval, asking the oracle to cancel what it has)")


def extend(store: Store, name: str, budget: int, *, by: str | None = None) -> str:
    """Raise the campaign's budget to ``budget`` (more than it is now). A campaign completed by its budget runs
    again (a daemon watching its file picks it up at its next scan)."""
    row = campaign(store, name)
    control = store.control(row.id)
    current = budget_of(store, row, control)
    counted = sum(e.status not in UNCOUNTED for e in store.experiments(row.id))
    if isinstance(budget, bool) or not isinstance(budget, Integral):
        raise LooplabError(f"--budget: expected a whole number of experiments (got {budget!r})")
    budget = int(budget)  # numpy's integers as Python's
    if budget <= current:
        raise LooplabError(f"--budget: {budget} is not above the campaign's budget of {current} ({counted} "
                           f"experiment(s) counted so far); give a larger number (to lower a budget, edit "
                           f"budget.max_experiments in the campaign file)")
    if row.status == "completed" and (row.message or "").startswith(STOP_RULE_ENDINGS):
        # ended by a stop rule (stop_at, patience): a higher budget would end it again at its next step
        raise LooplabError(f"NAME: campaign '{row.name}' completed because {row.message}, not because of its budget; "
                           "a higher budget would end it again at once: change that rule in the campaign file "
                           "(budget.stop_at or budget.patience) and run it again")
    if row.status == "completed" and (row.message or "").startswith(EXHAUSTED):
        raise LooplabError(f"NAME: campaign '{row.name}' completed because {_nothing_left(row)}")
    by = by or who()
    store.set_control(row.id, budget=budget, by=by)
    text = f"budget of '{row.name}' raised from {current} to {budget}"
    if row.status != "completed":
        return text + ("" if row.status == "running" else f"; the campaign stays {row.status}")
    holder = _apply(store, row, lambda fence: store.update_campaign(
        row.id, fence=fence, status="running", message=f"budget extended to {budget} by {by}"))
    if holder is None:
        return (text + "; the completed campaign runs again: a daemon watching its file picks it up at its "
                "next scan; without one: looplab run FILE")
    return text + f"; {holder} still holds the completed campaign: run it again once that process has exited"


def _nothing_left(row: Campaign) -> str:
    """Why a campaign completed with nothing left to propose cannot run further by its budget (extend, resume:
    it accepted a higher budget and ended again at once, fuzz round eighteen)."""
    if "min_distance" in (row.message or ""):  # a continuous space: the message names min_distance and its fix
        return row.message
    return (f"{row.message} (every candidate of its space is measured, waiting or rejected); a higher budget has "
            "nothing to propose: to measure more, start a new campaign with a larger space")


def _not_ended(row: Campaign, verb: str) -> None:
    if row.status in ("completed", "stopped"):
        hint = (f"looplab extend {row.name} --budget N" if row.status == "completed"
                else f"looplab resume {row.name}")
        raise LooplabError(f"NAME: campaign '{row.name}' has {'completed' if row.status == 'completed' else 'stopped'}"
                           f" ({row.message or 'done'}); nothing to {verb} (to run it again: {hint})")


def asked(state: str, control: Control) -> str:
    """'paused by alice@lab1: the furnace is down': a user's wish, as the campaign's message."""
    return f"{state} by {control.by or 'a user'}" + (f": {control.reason}" if control.reason else "")


def _apply(store: Store, row: Campaign, write: Callable[[Fence], None]) -> str | None:
    """Apply a wish at once when no process drives the campaign: take its lease for the moment (so none can
    start in between), ``write`` under it, let it go. Returns None when applied, else who drives it (the wish
    stays recorded for that process to obey at its next step)."""
    host, pid = socket.gethostname(), os.getpid()
    lease = store.lease(row.id)
    if lease is not None and lease["host"] == host and lease["pid"] == pid:
        return f"this process (pid {pid} on {host})"  # its own engine or API object drives it: obeys the wish
    try:
        generation = store.acquire_lease(row.id, host=host, pid=pid)
    except LeaseHeld as exc:
        h = getattr(exc, "holder", None) or {}
        return f"the process running it (pid {h.get('pid', '?')} on {h.get('host', '?')})"
    try:
        write(Fence(row.id, generation))
    finally:
        store.release_lease(row.id, host=host, pid=pid, generation=generation)
    return None


# ----------------------------------------------------------------------------- what waits for whom


def state_text(store: Store, row: Campaign, lease: dict | None, control: Control | None = None) -> str:
    """The campaign's true state, for `looplab status`: its status and message, ``unfinished`` when it says
    running but no process drives it, and a user's wish its driver has not applied yet."""
    control = store.control(row.id) if control is None else control
    state = row.status
    if state == "running" and (lease is None or lease["lapsed"]):  # nobody drives it now
        # a campaign run by hand (looplab ask / tell) is driven by each `ask`: between them nobody holds it
        manual = (row.spec.get("oracle") or {}).get("kind") == "manual"
        state = "running by hand (looplab ask / tell)" if manual else "unfinished"
    text = state + (f": {row.message}" if row.message else "")
    if control.state in ("paused", "stopped") and row.status != control.state and row.status != "completed":
        text += (f" ({'stop' if control.state == 'stopped' else 'pause'} requested by {control.by}"
                 f"{': ' + control.reason if control.reason else ''}; its driver applies it at its next step)")
    return text


def waits_text(row: Campaign, exps: Sequence[Experiment], control: Control | None = None) -> str:
    """What waits for whom: experiments awaiting a person's approval, results awaited from the oracle (or, for
    the ``manual`` oracle, from a person), a campaign a user paused awaiting resume (one the daemon paused says
    why in its status). '-' when nothing waits."""
    parts = []
    awaiting = sum(e.status == AWAITING for e in exps)
    if awaiting:
        parts.append(f"{awaiting} await approval by a person (looplab approve {row.name})")
    in_flight = sum(e.status in IN_FLIGHT for e in exps)
    if in_flight:
        kind = (row.spec.get("oracle") or {}).get("kind", "?")
        whom = f"a person (looplab tell {row.name})" if kind == "manual" else f"the oracle '{kind}'"
        parts.append(f"{in_flight} await results from {whom}")
    if row.status == "paused" and (control is None or control.state == "paused"):  # a user paused it
        parts.append(f"resume (looplab resume {row.name})")
    return "; ".join(parts) or "-"


__all__ = ["approve", "reject", "edit", "parse_assignments", "pause", "resume", "stop", "extend", "who",
           "campaign", "budget_of", "state_text", "waits_text"]
