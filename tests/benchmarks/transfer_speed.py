"""How long one step of the transfer model takes on direct arylation, against the source rows it learns from.

Run: nice .venv/bin/python tests/benchmarks/transfer_speed.py [--rows 230,500,1000,2000,5000] [--repeat 3]

Target: 20 rows of direct arylation at 105 C (../shared/datasets/direct_arylation), one-hot encoded by the
campaign's pool. Sources: n rows drawn (with replacement above the 1,152 rows of 90 and 120 C) from the
other two temperatures, a little noise added to repeated rows. For each n it prints the median wall time
of one step with a warm start from the previous step's state, as the engine runs it: each step sees two
more target rows than the one before (a batch of 2 recorded), starting from ``--target`` rows (the source
GP's fit happens once per campaign and is reported separately):

- multi-task: ``method: multi-task`` (the multi-task GP sees at most ``multitask_rows`` = 400 source
  rows; above that the sources are thinned, so the step time stops growing);
- multi-task, all rows: the same with ``multitask_rows`` raised to n (the exact O(n^3) cost);
- auto: every GP-based method and no transfer, weighed by leave-one-out density;
- predict: predicting the whole pool of 576 candidates with the fitted auto model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "campaigns" / "benchmarks" / "transfer" / "arylation_105.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="230,500,1000,2000,5000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target", type=int, default=20)
    args = ap.parse_args()

    from orchestrator.config import load_campaign
    from orchestrator.models.base import ModelContext
    from orchestrator.models.transfer import SourceData, TransferConfig, TransferSurrogate
    from orchestrator.models.transfer.source_model import source_gp
    from orchestrator.proposer import Proposer
    from orchestrator.benchmark import pool_values

    campaign = load_campaign(SPEC)
    space, values = pool_values(campaign.space, campaign.space.path, "yield")
    full = Proposer(campaign).sources
    Xs = np.vstack([s.X for s in full])
    ys = np.concatenate([s.y for s in full])
    rng = np.random.default_rng(0)
    # the target rows every step sees, in the order they arrive: --target first, then 2 more per step
    tgt = rng.choice(space.size, size=args.target + 2 * (args.repeat + 1), replace=False)

    def target(r: int) -> tuple[np.ndarray, np.ndarray]:
        rows = tgt[:args.target + 2 * r]
        return space.X[rows], values[rows]

    groups = space.column_groups()
    print(f"direct arylation 105 C: {args.target} target rows; sources from 90/120 C ({len(ys)} rows)")
    print(f"{'source rows':>11} {'source GP fit':>13} {'multi-task':>10} {'mt all rows':>11} {'auto':>8} "
          f"{'predict 576':>11}  (median seconds of {args.repeat})")
    for n in [int(v) for v in args.rows.split(",")]:
        idx = rng.choice(len(ys), size=n, replace=n > len(ys))
        noise = np.where(np.arange(n) >= len(ys), rng.normal(0, 1.0, n), 0.0)
        src = SourceData.make(f"{n} rows", Xs[idx], ys[idx] + noise)
        t0 = time.perf_counter()
        source_gp(src, groups)
        t_src = time.perf_counter() - t0
        out = []
        for method, extra in (("multi-task", {}), ("multi-task", {"multitask_rows": n}), ("auto", {})):
            if extra and n > 2000:
                out.append(float("nan"))
                continue
            cfg = TransferConfig(source=[{"path": "x", "objective": "yield"}], method=method, **extra)
            times, state, model = [], None, None
            for r in range(args.repeat + 1):
                model = TransferSurrogate(config=cfg, context=ModelContext(
                    seed=r, n_inputs=space.dim, pool=True, candidates=space.X, groups=groups, sources=(src,)),
                    sources=(src,))
                if state:
                    model.set_state(state)
                X, y = target(r)
                t0 = time.perf_counter()
                model.fit(X, y)
                if r:  # the first fit has no warm start (and fits the source GP's posterior once)
                    times.append(time.perf_counter() - t0)
                state = model.get_state()
            out.append(statistics.median(times))
        t0 = time.perf_counter()
        model.predict(space.X)
        t_pred = time.perf_counter() - t0
        print(f"{n:>11} {t_src:>13.2f} {out[0]:>10.2f} {out[1]:>11.2f} {out[2]:>8.2f} {t_pred:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
