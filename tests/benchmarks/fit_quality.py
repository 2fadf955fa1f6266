"""What skipping random restarts costs in fit quality, and what the numpy loss saves in time.

Run: .venv/bin/python tests/benchmarks/fit_quality.py [--quick]

For a growing data set (one observation per step, as in a campaign) each step is
fitted twice from the same warm start (the previous step's hyperparameters):

- "restarts": the warm start plus 2 random restarts (the best wins);
- "warm only": the warm start alone (what ``restart_every`` > 1 does on most fits).

Then whole chains of fits, each warm-started from its own previous fit, with restarts
on every fit, every k-th fit, or never: their mean and median fit times and how far
their losses drift from the every-fit chain's at the same N (negative: lower, better).

It prints, per problem, the median fit time of each and how much worse (higher)
the warm-only training loss is: median, 90th percentile and maximum over steps,
and the share of steps where it is worse by more than 0.1 (nats; the loss is a
negative log marginal likelihood plus log priors). Then the time of one fit with
the numpy loss against GPflow's compiled TensorFlow loss (same optimum).
Timings are medians; other jobs on the machine slow them (the load is printed).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import _bench


def crossed_barrel() -> tuple[np.ndarray, np.ndarray]:
    data = np.genfromtxt(_bench.CROSSED_BARREL, delimiter=",", skip_header=1)
    X, y = data[:, :-1], data[:, -1]
    lo, hi = X.min(axis=0), X.max(axis=0)
    return (X - lo) / np.where(hi > lo, hi - lo, 1.0), y


def compare(name: str, X: np.ndarray, y: np.ndarray, sizes: range) -> None:
    from orchestrator.models.gp import GPSurrogate

    state = None
    gaps, t_full, t_warm = [], [], []
    for n in sizes:
        full = GPSurrogate(seed=n, restarts=2, restart_every=1)
        warm = GPSurrogate(seed=n, restarts=0)
        if state:
            full.set_state(state)
            warm.set_state(state)
        t0 = time.perf_counter()
        full.fit(X[:n], y[:n])
        t1 = time.perf_counter()
        warm.fit(X[:n], y[:n])
        t2 = time.perf_counter()
        t_full.append(t1 - t0)
        t_warm.append(t2 - t1)
        lf, lw = full.fit_info["loss"], warm.fit_info["loss"]
        if state and lf is not None and lw is not None:
            gaps.append(lw - lf)
        state = full.get_state()
    g = np.array(gaps)
    print(f"{name}: {len(g)} warm-started steps, N = {sizes.start}..{sizes.stop - 1}")
    print(f"  median fit: restarts {_bench.fmt_s(statistics.median(t_full))}, "
          f"warm only {_bench.fmt_s(statistics.median(t_warm))}")
    print(f"  warm-only loss minus best-of-restarts loss: median {np.median(g):.2e}, "
          f"90th pct {np.quantile(g, 0.9):.2e}, max {g.max():.3f}; "
          f"worse by > 0.1 on {np.mean(g > 0.1):.0%} of steps")


def chains(name: str, X: np.ndarray, y: np.ndarray, sizes: range, every: tuple[int, ...] = (5, 10)) -> None:
    """Whole campaigns of fits: restarts on every fit vs on every k-th fit vs never (warm start only)."""
    from orchestrator.models.gp import GPSurrogate

    settings = [("every fit", dict(restarts=2, restart_every=1))]
    settings += [(f"every {k}th fit", dict(restarts=2, restart_every=k)) for k in every]
    settings += [("never", dict(restarts=0))]
    states = {label: None for label, _ in settings}
    losses = {label: [] for label, _ in settings}
    times = {label: [] for label, _ in settings}
    for n in sizes:
        for label, params in settings:
            m = GPSurrogate(seed=n, **params)
            if states[label]:
                m.set_state(states[label])
            t0 = time.perf_counter()
            m.fit(X[:n], y[:n])
            times[label].append(time.perf_counter() - t0)
            losses[label].append(m.fit_info["loss"])
            states[label] = m.get_state()
    ref = np.array(losses["every fit"], dtype=float)
    print(f"{name}: campaigns of fits N = {sizes.start}..{sizes.stop - 1} (each warm-started from its own "
          "previous fit); loss minus the every-fit campaign's loss at the same N:")
    if sizes.stop > 501:
        print("  (above 500 observations the GP restarts at most every 10th fit and above 1,000 only without a "
              "warm start or when it moved far, whatever restart_every says)")
    for label, _ in settings:
        g = np.array(losses[label], dtype=float) - ref
        print(f"  restarts {label:>14}: mean fit {_bench.fmt_s(float(np.mean(times[label])))}, "
              f"median {_bench.fmt_s(statistics.median(times[label]))}; loss gap median {np.median(g):.1e}, "
              f"max {g.max():.3f}, min {g.min():.3f}")


def backends(X: np.ndarray, y: np.ndarray, repeats: int) -> None:
    from orchestrator.models.gp import Fitter as _Fitter, GPSurrogate

    for n in (50, 200):
        row = {}
        for backend in ("numpy", "tensorflow"):
            _Fitter.backend = backend
            GPSurrogate(seed=0).fit(X[:n], y[:n])  # traces the TF loss once
            ts, losses = [], []
            for r in range(repeats):
                t0 = time.perf_counter()
                m = GPSurrogate(seed=r).fit(X[:n], y[:n])
                ts.append(time.perf_counter() - t0)
                losses.append(m.fit_info["loss"])
            row[backend] = (statistics.median(ts), losses)
        _Fitter.backend = "numpy"
        diff = max(abs(a - b) for a, b in zip(row["numpy"][1], row["tensorflow"][1]))
        print(f"  N = {n}, 3 starts: numpy loss {_bench.fmt_s(row['numpy'][0])}, "
              f"GPflow/TF loss {_bench.fmt_s(row['tensorflow'][0])} (median of {repeats}); "
              f"largest difference of the fitted losses {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps")
    args = ap.parse_args()
    _bench.quiet_tensorflow()
    print(_bench.load_avg())
    rng = np.random.default_rng(0)
    X6 = rng.random((400, 6))
    y6 = _bench.hartmann6(X6)
    Xc, yc = crossed_barrel()
    order = np.random.default_rng(1).permutation(len(yc))
    Xc, yc = Xc[order], yc[order]
    stop = 60 if args.quick else 120
    compare("Hartmann-6 (random inputs)", X6, y6, range(10, stop + 1))
    compare("crossed_barrel (random order)", Xc, yc, range(10, stop + 1))
    if not args.quick:
        compare("Hartmann-6, N = 300..340", X6, y6, range(300, 341))
    chains("Hartmann-6", X6, y6, range(5, stop + 1))
    chains("crossed_barrel", Xc, yc, range(5, stop + 1))
    if not args.quick:
        rng = np.random.default_rng(2)
        Xl = rng.random((1060, 6))
        chains("Hartmann-6 (large N)", Xl, _bench.hartmann6(Xl), range(1000, 1061, 2), every=(5, 10))
    print("fit time by loss implementation (Hartmann-6):")
    backends(X6, y6, 3 if args.quick else 7)


if __name__ == "__main__":
    main()
