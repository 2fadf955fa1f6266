"""How long one step of the transfer model takes on direct arylation, against the source rows it learns from.

Run: nice .venv/bin/python tests/benchmarks/transfer_speed.py [--rows 230,500,1000,2000,5000] [--steps 10]
     [--encoding one-hot|descriptors] [--seeds 2]

Target: direct arylation at 105 C (../shared/datasets/direct_arylation), encoded as the campaign's pool
encodes it (one-hot, or RDKit descriptors with ``--encoding descriptors``, which needs looplab[chem]).
Sources: n rows drawn (with replacement above the 1,152 rows of 90 and 120 C) from the other two
temperatures, a little noise added to repeated rows. Each seed runs a campaign-like sequence as the engine
runs it: a first fit on ``--target`` target rows with no state (the campaign's first step: the source GP's
fit happens once per campaign, in it, and is reported separately), then ``--steps`` steps, each with two
more target rows than the one before (a batch of 2 recorded) and warm-started from the previous step's
state. It prints the first step and the median and the slowest of the later steps, over the seeds:

- multi-task: ``method: multi-task`` (the multi-task GP sees at most ``multitask_rows`` = 400 source
  rows; above that the sources are thinned, so the step time stops growing);
- multi-task, all rows: the same with ``multitask_rows`` raised to n (the exact O(n^3) cost; up to 2,000);
- auto: every GP-based method and no transfer, weighed by their leave-one-out predictions;
- predict: predicting the whole pool of 576 candidates with the last fitted auto model.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "campaigns" / "benchmarks" / "transfer" / "arylation_105.yaml"
SMILES = {"Base": "Base_SMILES", "Ligand": "Ligand_SMILES", "Solvent": "Solvent_SMILES"}


def campaign_for(encoding: str, tmp: Path):
    """The benchmark campaign, its pool encoded as asked (paths made absolute for the copy in ``tmp``)."""
    from orchestrator.config import load_campaign

    if encoding == "one-hot":
        return load_campaign(SPEC)
    data = yaml.safe_load(SPEC.read_text())
    absolute = lambda p: str((SPEC.parent / p).resolve())  # noqa: E731
    data["space"]["pool"].update(path=absolute(data["space"]["pool"]["path"]), smiles=SMILES,
                                 encoding="descriptors")
    for s in data["model"]["params"]["source"]:
        s["path"] = absolute(s["path"])
    path = tmp / "arylation_105_descriptors.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_campaign(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="230,500,1000,2000,5000")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--target", type=int, default=20)
    ap.add_argument("--encoding", choices=("one-hot", "descriptors"), default="one-hot")
    args = ap.parse_args()

    from orchestrator.benchmark import pool_values
    from orchestrator.models.base import ModelContext
    from orchestrator.models.transfer import SourceData, TransferConfig, TransferSurrogate
    from orchestrator.models.transfer.source_model import source_gp
    from orchestrator.proposer import Proposer

    with tempfile.TemporaryDirectory() as tmp:
        campaign = campaign_for(args.encoding, Path(tmp))
        space, values = pool_values(campaign.space, campaign.space.path, "yield")
        full = Proposer(campaign).sources
    Xs = np.vstack([s.X for s in full])
    ys = np.concatenate([s.y for s in full])
    groups = space.column_groups()
    source_gp(SourceData.make("warm-up", Xs[:60], ys[:60]), groups)  # imports and one-time setup, not timed
    print(f"direct arylation 105 C ({args.encoding}, {space.dim} encoded columns): {args.target} target rows, "
          f"then {args.steps} steps of 2 more; sources from 90/120 C ({len(ys)} rows); {args.seeds} seeds")
    print(f"{'source rows':>11} {'source GP fit':>13} | {'first / median / max step, seconds':^60} | "
          f"{'predict 576':>11}")
    print(f"{'':>11} {'':>13} | {'multi-task':^19} {'mt, all rows':^19} {'auto':^19} |")
    for n in [int(v) for v in args.rows.split(",")]:
        cells, t_src, t_pred = [], [], []
        for method, extra in (("multi-task", {}), ("multi-task", {"multitask_rows": n}), ("auto", {})):
            if extra and n > 2000:
                cells.append(f"{'not run':^19}")
                continue
            firsts, later = [], []
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                idx = rng.choice(len(ys), size=n, replace=n > len(ys))
                noise = np.where(np.arange(n) >= len(ys), rng.normal(0, 1.0, n), 0.0)
                src = SourceData.make(f"{n} rows", Xs[idx], ys[idx] + noise)
                if method == "auto":  # the source GP's one fit per campaign, timed on its own (auto's first
                    # step below fits it again, as a campaign's first step does, so its 'first' includes it)
                    t0 = time.perf_counter()
                    source_gp(src, groups)
                    t_src.append(time.perf_counter() - t0)
                order = rng.choice(space.size, size=args.target + 2 * args.steps, replace=False)
                cfg = TransferConfig(source=[{"path": "x", "objective": "yield"}], method=method, **extra)
                state, model = None, None
                for r in range(args.steps + 1):
                    model = TransferSurrogate(config=cfg, context=ModelContext(
                        seed=r, n_inputs=space.dim, pool=True, candidates=space.X, groups=groups,
                        sources=(src,)), sources=(src,))
                    if state:
                        model.set_state(state)
                    rows = order[:args.target + 2 * r]
                    t0 = time.perf_counter()
                    model.fit(space.X[rows], values[rows])
                    (later if r else firsts).append(time.perf_counter() - t0)
                    state = model.get_state()
                if method == "auto":
                    t0 = time.perf_counter()
                    model.predict(space.X)
                    t_pred.append(time.perf_counter() - t0)
            cells.append(f"{statistics.median(firsts):5.2f} {statistics.median(later):5.2f} {max(later):5.2f}  ")
        print(f"{n:>11} {statistics.median(t_src):>13.2f} | {' '.join(cells)} | "
              f"{statistics.median(t_pred):>11.3f}", flush=True)


if __name__ == "__main__":
    main()
