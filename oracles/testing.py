"""The oracle contract as a test a plugin author can run: ``check_oracle(oracle, experiments)``.

Every built-in oracle passes it (``tests/test_contract.py``); run it in your
plugin's own tests::

    from oracles.base import Experiment
    from oracles.testing import check_oracle

    def test_my_oracle_keeps_the_contract():
        oracle = MyOracle(...)
        results = check_oracle(oracle, [Experiment("e1", {"x": 0.5}), Experiment("e2", {"x": 0.1})],
                               failing=Experiment("bad", {"x": -1.0}))
        assert results["e1"].value == pytest.approx(...)

What it checks (DESIGN.md, "Core interfaces"):

- ``poll`` never blocks: every call returns within ``poll_budget`` seconds, on a
  fresh oracle too, and returns a sequence of :class:`~oracles.base.Result`;
- ``submit`` is idempotent per id: submitting the same experiments again, while
  they run and after they finished, yields no second result;
- results match ids: every submitted id gets exactly one result, and no result
  names an id that was not submitted;
- results are well formed: a known status; a succeeded result has a finite
  real value; a failed or timed-out one says why; outputs are JSON-serialisable;
- errors are captured: an experiment the oracle cannot do (``failing``) comes
  back as a failed result with a reason, and ``submit`` does not raise;
- ``cancel`` of an unknown id does not raise.

It raises :class:`ContractViolation` listing every broken rule, and returns
the results by id so the caller can check the numbers.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Sequence

from .base import Experiment, Result

STATUSES = {"succeeded", "failed", "timed_out", "cancelled"}


class ContractViolation(AssertionError):
    """The oracle broke one or more rules of the contract; the message lists them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the oracle breaks the contract:\n" + "\n".join(f"  - {p}" for p in problems))


def check_oracle(oracle: Any, experiments: Sequence[Experiment], *, failing: Experiment | None = None,
                 timeout: float = 120.0, poll_budget: float = 1.0, poll_interval: float = 0.05) -> dict[str, Result]:
    """Run the contract against ``oracle`` with ``experiments`` (and an optional ``failing`` one).

    ``timeout`` bounds the whole check; ``poll_budget`` is how long one ``poll``
    may take. Returns ``{experiment_id: Result}``.
    """
    problems: list[str] = []
    experiments = list(experiments)
    if not experiments:
        raise ValueError("check_oracle needs at least one experiment")
    if len({e.id for e in experiments}) != len(experiments):
        raise ValueError("check_oracle's experiments must have distinct ids")
    everything = experiments + ([failing] if failing is not None else [])
    wanted = {e.id for e in everything}

    for name in ("submit", "poll", "cancel"):
        if not callable(getattr(oracle, name, None)):
            problems.append(f"has no {name}() method")
    if problems:
        raise ContractViolation(problems)

    results: dict[str, Result] = {}
    duplicates: set[str] = set()

    def poll_once(when: str) -> None:
        t0 = time.monotonic()
        try:
            got = oracle.poll()
        except Exception as exc:
            problems.append(f"poll() raised {type(exc).__name__}: {exc} ({when})")
            return
        took = time.monotonic() - t0
        if took > poll_budget:
            problems.append(f"poll() took {took:.2f} s ({when}); it must not block (budget {poll_budget:g} s)")
        try:
            got = list(got)
        except TypeError:
            problems.append(f"poll() returned {type(got).__name__}, not a sequence of Result ({when})")
            return
        for r in got:
            if not isinstance(r, Result):
                problems.append(f"poll() returned a {type(r).__name__}, not an oracles.base.Result ({when})")
                continue
            if r.experiment_id not in wanted:
                problems.append(f"poll() returned a result for '{r.experiment_id}', which was never submitted")
                continue
            if r.experiment_id in results:
                duplicates.add(r.experiment_id)
                continue
            results[r.experiment_id] = r

    poll_once("on a fresh oracle, before any submit")
    if results:
        problems.append("poll() returned results before anything was submitted")

    for batch, when in ((experiments, "the first time"), (experiments, "again, while running (idempotent)")):
        try:
            oracle.submit(list(batch))
        except Exception as exc:
            problems.append(f"submit() raised {type(exc).__name__}: {exc} ({when})")
    if failing is not None:
        try:
            oracle.submit([failing])
        except Exception as exc:
            problems.append(f"submit() raised {type(exc).__name__}: {exc} for an experiment the oracle cannot do; "
                            "it must report a failed result instead")

    deadline = time.monotonic() + timeout
    while set(results) != wanted and time.monotonic() < deadline and len(problems) < 20:
        poll_once("while experiments ran")
        if set(results) != wanted:
            time.sleep(poll_interval)
    missing = sorted(wanted - set(results))
    if missing:
        problems.append(f"no result within {timeout:g} s for: {', '.join(missing)}")

    # submitting finished experiments again must not produce second results
    try:
        oracle.submit(list(experiments))
    except Exception as exc:
        problems.append(f"submit() raised {type(exc).__name__}: {exc} when given finished experiments again")
    for _ in range(3):
        poll_once("after every experiment finished")
        time.sleep(poll_interval)
    if duplicates:
        problems.append(f"more than one result for: {', '.join(sorted(duplicates))} (each id gets one result)")

    for eid, r in results.items():
        problems += _check_result(r)
    if failing is not None and failing.id in results:
        r = results[failing.id]
        if r.status not in ("failed", "timed_out"):
            problems.append(f"the failing experiment '{failing.id}' came back {r.status}, not failed")

    try:
        oracle.cancel("no-such-experiment-id")
    except Exception as exc:
        problems.append(f"cancel() of an unknown id raised {type(exc).__name__}: {exc}")

    if problems:
        raise ContractViolation(problems)
    return results


def _check_result(r: Result) -> list[str]:
    out = []
    eid = r.experiment_id
    if r.status not in STATUSES:
        out.append(f"'{eid}': status {r.status!r} is not one of {sorted(STATUSES)}")
    if r.status == "succeeded":
        if isinstance(r.value, bool) or not isinstance(r.value, (int, float)) or not math.isfinite(r.value):
            out.append(f"'{eid}': succeeded with value {r.value!r}; a success needs a finite real number")
    elif r.status in ("failed", "timed_out"):
        if not r.error or not isinstance(r.error, str):
            out.append(f"'{eid}': {r.status} without a reason in error")
    if not isinstance(r.outputs, dict):
        out.append(f"'{eid}': outputs is {type(r.outputs).__name__}, not a dict")
    else:
        try:
            json.dumps(r.outputs, allow_nan=False)
        except (TypeError, ValueError) as exc:
            out.append(f"'{eid}': outputs are not JSON-serialisable ({exc})")
    return out


__all__ = ["check_oracle", "ContractViolation"]
