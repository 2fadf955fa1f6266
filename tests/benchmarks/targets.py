"""The three speed targets of the performance issue, as medians over consecutive steps.

Run: .venv/bin/python tests/benchmarks/targets.py [--quick] [--only categorical]

One step = GP fit on the observations (warm-started from the previous step) +
EI over the pool with ``select_from_pool``, batch 1 (what ``Proposer.propose``
does for a pool campaign). Targets:

1. 600-candidate pool, 50 observations: <= 0.1 s per step. Measured on
   Hartmann-6 (random inputs and pool, 6-D) and on the crossed_barrel pool
   (600 rows, 4 inputs, observations = random rows), and on a categorical pool: direct arylation at 105 C
   (576 candidates, three one-hot inputs and one number; the sum + product kernel). ``--only categorical``
   runs that one alone, over three seeds' random rows.
2. 100,000-candidate pool, 1,000 observations, 6 inputs: <= 3 s per step.
3. 5,000 observations (sparse GP): <= 10 s per step (pools of 1e4 and 1e5).

Then kriging-believer batches of 5 (1,000 observations, 10,000 candidates): EI
(candidates pruned by a variance bound), PI (pool variance updated by rank-one
downdates), and the plain loop (condition the model, predict the pool again),
which both replace.

Prints wall-clock medians (and the CPU seconds of a step over all threads).
Other jobs on the machine slow the wall clock: the load average is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import _bench


def report(label: str, t: _bench.StepTimes, target: float | None = None) -> None:
    med = statistics.median(t.step)
    verdict = "" if target is None else (" (target <= %s: %s)" % (_bench.fmt_s(target), "met" if med <= target
                                                                  else "NOT met"))
    print(f"{label}: step median {_bench.fmt_s(med)}{verdict} = fit {_bench.fmt_s(statistics.median(t.fit))} "
          f"+ acquisition {_bench.fmt_s(statistics.median(t.acq))}; min {_bench.fmt_s(min(t.step))}, "
          f"max {_bench.fmt_s(max(t.step))}; CPU {_bench.fmt_s(statistics.median(t.cpu))} per step; "
          f"{len(t.step)} steps")


def categorical_steps(n_obs: int, repeats: int, seed: int = 0) -> _bench.StepTimes:
    """Direct arylation at 105 C (campaigns/benchmarks/direct_arylation/105.yaml): 576 candidates, three
    categorical inputs one-hot encoded (20 columns) and one number; observations = random rows."""
    from orchestrator.config import load_campaign
    from oracles.lookup import LookupTable

    campaign = load_campaign(_bench.ROOT / "campaigns" / "benchmarks" / "direct_arylation" / "105.yaml")
    space = campaign.space
    pool = space.X
    table = LookupTable(space.path, tuple(space.names), "yield", dict(campaign.spec.space.pool.where or {}))
    y = np.array([table.values[table.find(r, nearest=False)] for r in space.candidates])
    order = np.random.default_rng(seed).permutation(len(y))
    camp = _bench.Campaign(pool[order], y[order], pool[order], seed=seed, groups=space.column_groups())
    start = n_obs - repeats + 1
    camp.step(start - 1)
    t = _bench.StepTimes()
    for n in range(start, n_obs + 1):
        camp.available = np.arange(len(y)) >= n
        camp.step(n, t)
    return t


def crossed_barrel_steps(n_obs: int, repeats: int, seed: int = 0) -> _bench.StepTimes:
    data = np.genfromtxt(_bench.CROSSED_BARREL, delimiter=",", skip_header=1)
    X, y = data[:, :-1], data[:, -1]
    X = (X - X.min(axis=0)) / np.where(np.ptp(X, axis=0) > 0, np.ptp(X, axis=0), 1.0)
    order = np.random.default_rng(seed).permutation(len(y))
    camp = _bench.Campaign(X[order], y[order], X[order], seed=seed)
    start = n_obs - repeats + 1
    camp.step(start - 1)
    t = _bench.StepTimes()
    for n in range(start, n_obs + 1):
        camp.available = np.arange(len(y)) >= n  # the pool without the measured rows
        camp.step(n, t)
    return t


class _Plain:
    """The model without its fast paths (predict_bound, pool_posterior): the plain kriging-believer loop."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X)

    def condition(self, X):
        return _Plain(self.model.condition(X))


def batches(repeats: int) -> None:
    from acquisition.batch import select_from_pool
    from acquisition.functions import ExpectedImprovement, ProbabilityOfImprovement
    from orchestrator.models.gp import GPSurrogate

    X, y, pool = _bench.hartmann_problem(1000, 10_000, 3)
    model = GPSurrogate(seed=0).fit(X, y)
    best = float(y.max())
    print("batches of 5, 1,000 observations, 10,000 candidates (selection only, model already fitted):")
    for name, acq in (("EI", ExpectedImprovement()), ("PI", ProbabilityOfImprovement())):
        for how, m in (("fast path", model), ("plain loop", _Plain(model))):
            ts, picks = [], None
            for _ in range(repeats):
                t0 = time.perf_counter()
                picks = select_from_pool(m, acq, pool, 5, best=best)
                ts.append(time.perf_counter() - t0)
            print(f"  {name} {how:>10}: {_bench.fmt_s(statistics.median(ts))} (median of {repeats}); picks {picks}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps per target")
    ap.add_argument("--only", choices=["categorical"], help="one target alone")
    args = ap.parse_args()
    _bench.quiet_tensorflow()
    print(_bench.load_avg(), "(before)")
    r_small, r_big = (5, 2) if args.quick else (21, 5)
    if args.only == "categorical":
        steps = _bench.StepTimes()
        for seed in range(3):
            t = categorical_steps(50, r_small, seed)
            for name in ("fit", "acq", "cpu", "info"):
                getattr(steps, name).extend(getattr(t, name))
        report("1. direct arylation 105 C, 576 categorical candidates, 50 observations (3 seeds)", steps, 0.1)
        print(_bench.load_avg(), "(after)")
        return
    report("1. Hartmann-6, 600 candidates, 50 observations", _bench.run_steps(50, 600, r_small), 0.1)
    report("1. crossed_barrel, 600 candidates, 50 observations", crossed_barrel_steps(50, r_small), 0.1)
    report("1. direct arylation 105 C, 576 categorical candidates, 50 observations", categorical_steps(50, r_small),
           0.1)
    report("2. Hartmann-6, 100,000 candidates, 1,000 observations", _bench.run_steps(1000, 100_000, r_big), 3.0)
    report("3. Hartmann-6, 10,000 candidates, 5,000 observations (sparse)", _bench.run_steps(5000, 10_000, r_big),
           10.0)
    report("3. Hartmann-6, 100,000 candidates, 5,000 observations (sparse)", _bench.run_steps(5000, 100_000, r_big),
           10.0)
    batches(2 if args.quick else 3)
    print(_bench.load_avg(), "(after)")


if __name__ == "__main__":
    main()
