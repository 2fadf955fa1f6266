"""Held-out accuracy of each transfer method against the model without transfer, by target-set size.

Run: nice .venv/bin/python tests/benchmarks/transfer_supervised.py [--spec SPEC] [--sizes 10,20,50,100]
     [--repeats 5] [--fine-tune]

For each size n and repeat r, n target rows are drawn at random (seed r) from the campaign's pool (with
its objective from the lookup data), every method is fitted on them with the campaign's sources (all
their rows), and the RMSE and R^2 of its predicted mean on the remaining pool rows are printed as the
mean over repeats. ``auto`` is fitted once; its parts are the single methods (none = the base model
without transfer), so their numbers are those of the methods alone, with the same hyperparameter fits;
auto's weights are printed per size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=str(ROOT / "campaigns" / "benchmarks" / "transfer" / "arylation_105.yaml"))
    ap.add_argument("--sizes", default="10,20,50,100")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fine-tune", action="store_true", help="also the fine-tuned ensemble (slow: TensorFlow)")
    args = ap.parse_args()

    from orchestrator.benchmark import pool_values
    from orchestrator.config import load_campaign
    from orchestrator.proposer import Proposer

    campaign = load_campaign(args.spec)
    oracle = campaign.spec.oracle.params or {}
    values_path = (campaign.base_dir / oracle["path"]) if oracle.get("path") else campaign.space.path
    space, values = pool_values(campaign.space, values_path, campaign.spec.objective.name)
    campaign.space = space
    proposer = Proposer(campaign)
    y_all = proposer.internal(values)
    print(f"{campaign.name}: pool of {space.size}; sources: "
          + ", ".join(f"{Path(s.name).name} ({len(s.y)} rows)" for s in proposer.sources))
    sizes = [int(v) for v in args.sizes.split(",")]
    table: dict[str, dict[int, list[tuple[float, float]]]] = {}
    weights: dict[int, dict[str, list[float]]] = {}  # auto's weight of each method, per size
    for n in sizes:
        for r in range(args.repeats):
            rng = np.random.default_rng([r, n])
            idx = rng.choice(space.size, size=n, replace=False)
            rest = np.setdiff1d(np.arange(space.size), idx)
            X, y, Xt, yt = space.X[idx], y_all[idx], space.X[rest], y_all[rest]
            model = proposer.build_model(r)
            model.config = model.config.model_copy(update={"method": "auto"})
            model.method = "auto"
            model.fit(X, y)
            preds = {k: p.predict(Xt)[0] for k, p in model._parts.items()}
            preds["auto"] = model.predict(Xt)[0]
            for k, w in model.weights().items():
                weights.setdefault(n, {}).setdefault(k, []).append(w)
            if args.fine_tune:
                from orchestrator.models.transfer.finetune import FineTune

                ft = FineTune(model._setup(), model.config).fit(X, y)
                preds["fine-tune"] = ft.predict(Xt)[0]
            for k, m in preds.items():
                rmse = float(np.sqrt(np.mean((m - yt) ** 2)))
                r2 = 1.0 - float(np.sum((m - yt) ** 2) / np.sum((yt - yt.mean()) ** 2))
                table.setdefault(k, {}).setdefault(n, []).append((rmse, r2))
        print(f"n={n} done", flush=True)
    print(f"\nheld-out RMSE / R^2, mean over {args.repeats} repeats (target rows drawn at random)")
    print(f"{'method':<16}" + "".join(f"{'n=' + str(n):>16}" for n in sizes))
    for k, row in table.items():
        print(f"{k:<16}" + "".join(f"{np.mean([a for a, _ in row[n]]):>8.2f} / {np.mean([b for _, b in row[n]]):5.2f}"
                                   for n in sizes))
    print("\nauto's weights (leave-one-out pseudo-BMA+), mean over repeats")
    for n in sizes:
        print(f"  n={n}: " + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in weights.get(n, {}).items()))


if __name__ == "__main__":
    main()
