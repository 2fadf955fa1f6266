"""How the time of one campaign step grows with the pool and with the observations.

Run: .venv/bin/python tests/benchmarks/step_time.py [--quick] [--repeats R]

One step = what ``Proposer.propose`` does for a pool campaign: build the GP
(warm-started from the previous step's hyperparameters), fit it on every
observation, then EI over the pool with ``select_from_pool`` (batch 1). Data:
Hartmann-6 on uniform random inputs in the unit cube (6 inputs); the pool is
uniform random too. Each configuration runs R consecutive steps (one new
observation per step) after an untimed one, and reports medians over them.

Sweeps: pool 1e3, 1e4, 1e5 at 200 observations; observations 1e2, 3e2, 1e3,
2e3, 5e3 at a pool of 1e4 (above 2,000 observations the GP is sparse, SGPR
with 256 inducing points, by default).

Prints a table (wall-clock medians of fit, acquisition and step, CPU seconds of
the step over all threads, the model, L-BFGS loss evaluations) and writes
runs/benchmarks/step_time.png (log-log) and runs/benchmarks/step_time.json.
Other jobs on the machine slow the wall-clock figures: the load average is
printed; CPU seconds are less sensitive to it.
"""

from __future__ import annotations

import argparse
import json
import statistics

import _bench

POOLS = [1_000, 10_000, 100_000]
OBS = [100, 300, 1_000, 2_000, 5_000]


def measure(n_obs: int, n_pool: int, repeats: int) -> dict:
    t = _bench.run_steps(n_obs, n_pool, repeats)
    info = t.info[-1]
    return {
        "observations": n_obs,
        "pool": n_pool,
        "repeats": repeats,
        "fit_s": statistics.median(t.fit),
        "acq_s": statistics.median(t.acq),
        "step_s": statistics.median(t.step),
        "step_max_s": max(t.step),
        "cpu_s": statistics.median(t.cpu),
        "model": f"sparse M={info.get('inducing')}" if info.get("sparse") else "exact",
        "evaluations": statistics.median(i.get("evaluations", 0) for i in t.info),
    }


def table(rows: list[dict]) -> str:
    head = (f"{'pool':>8} {'obs':>6} {'model':>14} {'fit':>10} {'acquisition':>12} {'step':>10} "
            f"{'step max':>10} {'step CPU':>10} {'evals':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['pool']:>8} {r['observations']:>6} {r['model']:>14} {_bench.fmt_s(r['fit_s']):>10} "
                     f"{_bench.fmt_s(r['acq_s']):>12} {_bench.fmt_s(r['step_s']):>10} "
                     f"{_bench.fmt_s(r['step_max_s']):>10} {_bench.fmt_s(r['cpu_s']):>10} {r['evaluations']:>6.0f}")
    return "\n".join(lines)


def plot(by_pool: list[dict], by_obs: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, rows, key, label in ((axes[0], by_pool, "pool", "pool size (candidates)"),
                                 (axes[1], by_obs, "observations", "observations")):
        x = [r[key] for r in rows]
        for what, style in (("fit_s", "o-"), ("acq_s", "s-"), ("step_s", "^-")):
            ax.plot(x, [r[what] for r in rows], style, label={"fit_s": "fit", "acq_s": "acquisition",
                                                              "step_s": "step (fit + acquisition)"}[what])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("seconds (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    axes[0].set_title(f"{by_pool[0]['observations']} observations, 6 inputs")
    axes[1].set_title(f"pool of {by_obs[0]['pool']:,} candidates, 6 inputs")
    from orchestrator.models.gp import GPConfig

    threshold = GPConfig().sparse_above
    if threshold is not None and any(r["model"] != "exact" for r in by_obs):
        axes[1].axvline(threshold, color="grey", ls=":", lw=1)
        axes[1].text(threshold, axes[1].get_ylim()[0], f" sparse GP above {threshold:,}", color="grey",
                     va="bottom", fontsize=8)
    fig.suptitle("looplab: time of one step (GP fit + EI over the pool, batch 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats per configuration")
    ap.add_argument("--repeats", type=int, default=None, help="steps per configuration (default 5; quick 2)")
    args = ap.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    _bench.quiet_tensorflow()
    print(_bench.load_avg(), "(before)")
    by_pool = [measure(200, p, repeats) for p in POOLS]
    by_obs = [measure(n, 10_000, repeats) for n in OBS]
    print(f"medians over {repeats} consecutive steps (wall clock; CPU = all threads)")
    print(table(by_pool))
    print()
    print(table(by_obs))
    print(_bench.load_avg(), "(after)")
    _bench.RUNS.mkdir(parents=True, exist_ok=True)
    png = _bench.RUNS / "step_time.png"
    plot(by_pool, by_obs, png)
    (_bench.RUNS / "step_time.json").write_text(json.dumps({"by_pool": by_pool, "by_observations": by_obs}, indent=1))
    print(f"wrote {png} and {png.with_suffix('.json')}")


if __name__ == "__main__":
    main()
