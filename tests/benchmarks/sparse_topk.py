"""Does the sparse GP find the best crossed-barrel designs as well as the exact GP?

Run: .venv/bin/python tests/benchmarks/sparse_topk.py [--seeds 10] [--budget 50] [--quick]

Pool benchmark on ../shared/datasets/pvlab/crossed_barrel.csv (600 rows, inputs
n, theta, r, t; maximise toughness), the protocol of DESIGN.md: 2 random initial
rows, then one proposal per step from ``orchestrator.proposer.Proposer`` in memory
(the model warm-started from the previous step, as ``looplab run`` does) up to
the budget. Top set = the best 5% of the pool (30 rows); Top%(i) = the share of
it found after i experiments.

The pool has only 600 rows, so the sparse path is forced with ``sparse_above: 0``:

- exact: the default GP;
- sparse M=256: SGPR with M = min(N, 256) inducing points, i.e. every observation
  is an inducing point here (checks the SGPR fit and posterior end to end);
- sparse M=16: SGPR with at most 16 inducing points, fewer than the observations
  after step 14 (a real approximation, as at 5,000 observations with 256).

It prints, per acquisition and model, Top%(budget) per seed and the median and mean
over seeds, the median experiments to reach Top% >= 0.5, and the median fit time
per step. Random search's expectation is budget / 600.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import _bench

INPUTS = ["n", "theta", "r", "t"]
MODELS = {
    "exact": {},
    "sparse M=256": {"sparse_above": 0, "inducing": 256},
    "sparse M=16": {"sparse_above": 0, "inducing": 16},
}
ACQUISITIONS = {
    "ucb (beta 0.3)": {"kind": "ucb", "params": {"beta": 0.3}},
    "ei": {"kind": "ei", "params": {}},
}


def make_campaign(model_params: dict, acquisition: dict, seed: int, budget: int):
    from orchestrator.config import campaign_from_spec, parse_spec

    data = {
        "name": "sparse-topk",
        "seed": seed,
        "space": {"pool": {"path": str(_bench.CROSSED_BARREL), "inputs": INPUTS}},
        "objective": {"name": "toughness", "goal": "max"},
        "oracle": {"kind": "lookup"},
        "model": {"kind": "gp", "params": model_params},
        "acquisition": {**acquisition, "batch_size": 1},
        "initial": {"n": 2, "method": "random"},
        "budget": {"max_experiments": budget},
    }
    return campaign_from_spec(parse_spec(data, "sparse_topk"), _bench.ROOT)


def values_of(space) -> np.ndarray:
    from pathlib import Path

    from oracles.lookup import LookupTable

    table = LookupTable(Path(_bench.CROSSED_BARREL), tuple(INPUTS), "toughness")
    return np.array([table.values[table.find(c, nearest=False)] for c in space.candidates])


def run(model_params: dict, acquisition: dict, seed: int, budget: int) -> tuple[list[int], float]:
    from orchestrator.proposer import Proposer, step_rng

    campaign = make_campaign(model_params, acquisition, seed, budget)
    space = campaign.space
    values = values_of(space)
    proposer = Proposer(campaign)
    picks = [space.index_of(p) for p in proposer.initial_design(step_rng(seed, 0))]
    warm, fit_s, steps = None, 0.0, 0
    step = 1
    while len(picks) < budget:
        used = [space.candidates[i] for i in picks]
        prop = proposer.propose(observed=used, values=values[picks], busy=[], used=used, n=1, step=step,
                                rng=step_rng(seed, step), warm_state=warm)
        if prop.fitted:
            warm = prop.model.get_state()
            fit_s += prop.fit_seconds
            steps += 1
        new = [space.index_of(p) for p in prop.params]
        if not new:
            break
        picks += new
        step += 1
    return picks, fit_s / max(1, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="5 seeds, EI only")
    args = ap.parse_args()
    _bench.quiet_tensorflow()
    seeds = list(range(5 if args.quick else args.seeds))
    acqs = {"ei": ACQUISITIONS["ei"]} if args.quick else ACQUISITIONS
    probe = make_campaign({}, ACQUISITIONS["ei"], 0, args.budget)
    values = values_of(probe.space)
    k = int(np.ceil(0.05 * len(values)))
    top = set(np.argsort(-values, kind="stable")[:k].tolist())
    print(f"crossed_barrel: {len(values)} candidates, top set = best {k}; budget {args.budget}; "
          f"seeds {seeds[0]}..{seeds[-1]}; random search expects Top% = {args.budget / len(values):.3f}")
    print(_bench.load_avg())
    for acq_name, acq in acqs.items():
        for model_name, params in MODELS.items():
            t0 = time.perf_counter()
            tops, to_half, fits = [], [], []
            for seed in seeds:
                picks, fit_s = run(params, acq, seed, args.budget)
                found = np.cumsum([p in top for p in picks]) / k
                tops.append(float(found[-1]))
                hit = np.flatnonzero(found >= 0.5)
                to_half.append(int(hit[0]) + 1 if hit.size else None)
                fits.append(fit_s)
            reached = [h for h in to_half if h is not None]
            print(f"{acq_name:>15} | {model_name:<13} | Top%({args.budget}) median {statistics.median(tops):.3f} "
                  f"mean {statistics.mean(tops):.3f} | per seed {' '.join(f'{t:.2f}' for t in tops)} | "
                  f"Top%>=0.5 after {statistics.median(reached) if reached else '-'} "
                  f"({len(reached)}/{len(seeds)} seeds) | fit {_bench.fmt_s(statistics.median(fits))}/step | "
                  f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
