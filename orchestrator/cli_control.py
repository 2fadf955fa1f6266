"""``looplab approve | reject | edit`` (the approval gate) and ``looplab pause | resume | stop | extend``
(campaign control): thin commands over :mod:`orchestrator.control`, registered on the ``looplab`` app.

Each prints one line saying what it did (or what the process running the campaign will do at its next step);
a bad input prints one ``error`` line naming the id, parameter or option, exits 2 and changes nothing.
"""

from __future__ import annotations

from typing import Callable, Optional

import typer

from .cli import INT, StoreOpt, _check_options, _fail, app, console
from .errors import LooplabError

NameArg = typer.Argument(..., help="campaign name (see: looplab status)")


def _do(store: Optional[str], action: Callable) -> object:
    """Open the existing store for writing and run ``action(store)``; a LooplabError is one line, exit 2.
    (The store and control modules load here, not when `looplab` starts.)"""
    from .cli import _file_url
    from .store import open_existing

    st = None
    try:
        st = open_existing(_file_url(store), write=True)
        return action(st)
    except LooplabError as exc:
        _fail(exc)
    finally:
        if st is not None:
            st.close()


def _control():
    from . import control

    return control


def _driver(st, name: str) -> str:
    """Who dispatches approved experiments: the process running the campaign, or nobody yet."""
    row = st.get_campaign(name)
    if row is not None and (row.spec.get("oracle") or {}).get("kind") == "manual":  # a person runs them (fuzz 18)
        return f"they are a person's to run: looplab ask {name} hands them out (--csv for a worksheet)"
    lease = st.lease(row.id) if row is not None else None
    if lease is None or lease["lapsed"]:
        return "no process runs the campaign now: `looplab run FILE` or a daemon dispatches them when it starts"
    return f"pid {lease['pid']} on {lease['host']}, which runs the campaign, dispatches them at its next step"


@app.command()
def approve(name: str = NameArg,
            ids: Optional[list[str]] = typer.Argument(None, help="experiment ids (default: every experiment "
                                                                 "awaiting approval)"),
            store: Optional[str] = StoreOpt) -> None:
    """Approve experiments awaiting approval (approval: required): they are dispatched to the oracle."""
    def act(st):
        from . import control

        done = control.approve(st, name, ids or None)
        if not done:
            return f"nothing awaits approval in campaign '{name}'"
        return f"approved {len(done)} experiment(s) of '{name}': {', '.join(done)}; {_driver(st, name)}"

    console.print(_do(store, act), soft_wrap=True)


@app.command()
def reject(name: str = NameArg,
           ids: list[str] = typer.Argument(..., help="experiment ids awaiting approval"),
           reason: str = typer.Option("", "--reason", help="why (kept in the store, shown by status and export)"),
           store: Optional[str] = StoreOpt) -> None:
    """Reject experiments awaiting approval: never run, not counted toward the budget, never proposed again."""
    def act(st):
        from . import control

        done = control.reject(st, name, ids, reason=reason)
        return (f"rejected {len(done)} experiment(s) of '{name}': {', '.join(done)}; their points are not "
                "proposed again, and the campaign proposes others in their place")

    console.print(_do(store, act), soft_wrap=True)


@app.command()
def edit(name: str = NameArg,
         experiment_id: str = typer.Argument(..., metavar="ID", help="an experiment awaiting approval"),
         params: list[str] = typer.Argument(..., metavar="PARAM=VALUE...", help="the params to change, e.g. x=0.3"),
         store: Optional[str] = StoreOpt) -> None:
    """Change the params of an experiment awaiting approval (checked against the space); it keeps waiting."""
    def act(st):
        from . import control

        before = next((e.params for e in st.experiments(control.campaign(st, name).id) if e.id == experiment_id),
                      None)
        exp = control.edit(st, name, experiment_id, control.parse_assignments(params))
        if exp.params == before:
            return f"{experiment_id}: unchanged (it already has these params)"
        shown = ", ".join(f"{k}={v}" for k, v in exp.params.items())
        return (f"edited {experiment_id}: {shown} (the params it had are kept in the store); it still awaits "
                f"approval: looplab approve {name} {experiment_id}")

    console.print(_do(store, act), soft_wrap=True)


@app.command()
def pause(name: str = NameArg,
          reason: str = typer.Option("", "--reason", help="why (shown by looplab status)"),
          store: Optional[str] = StoreOpt) -> None:
    """Pause a campaign: no new proposals from the next step on; results in flight are still recorded."""
    console.print(_do(store, lambda st: _control().pause(st, name, reason=reason)), soft_wrap=True)


@app.command()
def resume(name: str = NameArg, store: Optional[str] = StoreOpt) -> None:
    """Resume a paused (or stopped) campaign."""
    console.print(_do(store, lambda st: _control().resume(st, name)), soft_wrap=True)


@app.command()
def stop(name: str = NameArg,
         reason: str = typer.Option("", "--reason", help="why (shown by looplab status)"),
         store: Optional[str] = StoreOpt) -> None:
    """End a campaign now: status stopped; what is in flight or awaiting approval is cancelled."""
    console.print(_do(store, lambda st: _control().stop(st, name, reason=reason)), soft_wrap=True)


@app.command()
def extend(name: str = NameArg,
           budget: int = typer.Option(..., "--budget", parser=INT, help="the new budget: more experiments than it has now"),
           store: Optional[str] = StoreOpt) -> None:
    """Raise a campaign's budget; a campaign that completed by its budget runs on to the new one."""
    _check_options(budget=(budget, 1, True))
    console.print(_do(store, lambda st: _control().extend(st, name, budget)), soft_wrap=True)
