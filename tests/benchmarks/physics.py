"""Physics-informed models on Newton cooling: recovering r, prediction error, wrong physics, step time.

Run: nice -n 10 .venv/bin/python tests/benchmarks/physics.py [--seeds 20] [--quick] [--skip-pinn]

Truth: T(t, T_env) = T_env + (T0 - T_env) exp(-r t), r = 0.005 per second, T0 = 100 C,
Gaussian noise sd 2 C. The campaign space is t in [0, 300] s and T_env in [10, 40] C; the
models (``pinn``, ``physics-gp``, the plain ``gp``) are built as the engine builds them
(a ModelContext with the inputs' physical scales) and fitted on the measured values.

1. Recovering r: n = 5, 10, 20 measurements at evenly spaced t over 0-300 s, T_env = 25 C.
   Per n, over the seeds: the median absolute relative error of r (with the 5th-95th
   percentile of the error over seeds) and the share of seeds whose nominal 90% interval
   covers the true r, for the PINN ensemble (Student-t interval of its K networks), for
   physics-gp (least-squares constants, t interval from the delta method) and for scipy's
   curve_fit of the closed form (the honest baseline; interval from its covariance). The
   Cramer-Rao bound sd(r)/r of the design is printed beside it.
2. Prediction RMSE on a dense 31 x 31 grid of (t, T_env), against the noiseless truth, with
   n = 5, 10, 20 measurements at random (t, T_env): pinn, physics-gp and the plain GP.
3. Wrong physics: the same with a truth that is not Newtonian (the environment warms
   during the run, T_env(t) = T_env + 10 C * t / 300 s): physics-gp against the plain GP,
   with the paired difference and its standard error.
4. Step time of a 5-network PINN at 20 observations: the first fit (a new model; the
   process has compiled the training loop once already), and a fit warm-started from the
   fit at 19 observations (what a campaign step does); medians over repeats.

Other jobs on the machine slow the timings (the load is printed).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np

import _bench
from orchestrator.models.base import InputScale, ModelContext

R, T0, T_ENV, NOISE = 0.005, 100.0, 25.0, 2.0
SCALES = (InputScale("t", 0, 0.0, 300.0), InputScale("T_env", 1, 10.0, 40.0))
PHYSICS = {"physics": "newton-cooling", "settings": {"T0": T0}, "constants": {"r": {"low": 1e-4, "high": 0.1}}}


def truth(t: np.ndarray, env: np.ndarray, drift: float = 0.0) -> np.ndarray:
    if drift:  # the environment warms linearly during the run: dT/dt = r (T_env + drift t / 300 - T)
        a = drift / 300.0
        # solution of T' = r (E0 + a t - T), T(0) = T0
        return env + a * t - a / R + (T0 - env + a / R) * np.exp(-R * t)
    return env + (T0 - env) * np.exp(-R * t)


def encode(t: np.ndarray, env: np.ndarray) -> np.ndarray:
    return np.c_[t / 300.0, (env - 10.0) / 30.0]


def model(kind: str, seed: int, **extra):
    ctx = ModelContext(seed=seed, n_inputs=2, inputs=SCALES, y_sign=1.0)
    if kind == "pinn":
        from orchestrator.models.pinn import PINNConfig, PINNSurrogate

        return PINNSurrogate.from_config(PINNConfig.model_validate({**PHYSICS, **extra}), ctx)
    if kind == "physics-gp":
        from orchestrator.models.physics_gp import PhysicsGPConfig, PhysicsGPSurrogate

        return PhysicsGPSurrogate.from_config(PhysicsGPConfig.model_validate({**PHYSICS, **extra}), ctx)
    from orchestrator.models.gp import GPConfig, GPSurrogate

    return GPSurrogate.from_config(GPConfig(), ctx)


def curve_fit_r(t: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float]]:
    from scipy.optimize import curve_fit
    from scipy.stats import t as student

    f = lambda tt, r: T_ENV + (T0 - T_ENV) * np.exp(-r * tt)  # noqa: E731
    p, cov = curve_fit(f, t, y, p0=[0.003], bounds=(1e-4, 0.1))
    sd = math.sqrt(cov[0, 0])
    q = float(student.ppf(0.95, len(t) - 1))
    return float(p[0]), (p[0] - q * sd, p[0] + q * sd)


def cramer_rao(t: np.ndarray) -> float:
    d = -(T0 - T_ENV) * t * np.exp(-R * t)
    return math.sqrt(NOISE**2 / np.sum(d**2)) / R


def band(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return f"{np.median(a):.4f} [{np.percentile(a, 5):.4f}, {np.percentile(a, 95):.4f}]"


def recover_r(seeds: int, sizes: tuple[int, ...], methods: list[str]) -> None:
    print(f"\n1. Recovering r (true {R}/s; T0 {T0:g} C, T_env {T_ENV:g} C, noise sd {NOISE:g} C; {seeds} seeds)")
    print("   |rel. error| of r: median [5%, 95% over seeds]; coverage: share of seeds whose 90% interval holds r")
    print(f"   {'n':>3} {'CR bound':>9}  " + "  ".join(f"{m + ' error':>32} {'cover':>6}" for m in methods))
    for n in sizes:
        t = np.linspace(0.0, 300.0, n)
        errs: dict[str, list[float]] = {m: [] for m in methods}
        cover: dict[str, list[bool]] = {m: [] for m in methods}
        for seed in range(seeds):
            rng = np.random.default_rng(1000 * n + seed)
            y = truth(t, np.full(n, T_ENV)) + NOISE * rng.standard_normal(n)
            for m in methods:
                if m == "curve_fit":
                    r, (lo, hi) = curve_fit_r(t, y)
                else:
                    mdl = model(m, seed).fit(encode(t, np.full(n, T_ENV)), y)
                    r = mdl.constants()["r"][0]
                    lo, hi = mdl.interval(0.9)["r"]
                errs[m].append(abs(r - R) / R)
                cover[m].append(lo <= R <= hi)
        print(f"   {n:>3} {cramer_rao(t):>9.4f}  " + "  ".join(
            f"{band(errs[m]):>32} {np.mean(cover[m]):>6.2f}" for m in methods), flush=True)


def prediction(seeds: int, sizes: tuple[int, ...], methods: list[str], drift: float = 0.0) -> None:
    g = np.linspace(0.0, 1.0, 31)
    U = np.array([(a, b) for a in g for b in g])
    tt, ee = U[:, 0] * 300.0, 10.0 + U[:, 1] * 30.0
    f_true = truth(tt, ee, drift)
    what = "wrong physics: T_env warms by %g C over the run" % drift if drift else "Newtonian truth"
    print(f"\n{'3' if drift else '2'}. Prediction RMSE (C) on a 31 x 31 grid of (t, T_env), {what}; "
          f"median [5%, 95%] over {seeds} seeds")
    head = "  ".join(f"{m:>28}" for m in methods)
    extra = f"  {'physics-gp - gp (paired mean ± SE)':>36}" if "gp" in methods and "physics-gp" in methods else ""
    print(f"   {'n':>3}  {head}{extra}")
    for n in sizes:
        rmse: dict[str, list[float]] = {m: [] for m in methods}
        for seed in range(seeds):
            rng = np.random.default_rng(5000 + 100 * n + seed)
            t, env = rng.uniform(0, 300, n), rng.uniform(10, 40, n)
            y = truth(t, env, drift) + NOISE * rng.standard_normal(n)
            for m in methods:
                mean = model(m, seed).fit(encode(t, env), y).predict(U)[0]
                rmse[m].append(float(np.sqrt(np.mean((mean - f_true) ** 2))))
        row = "  ".join(f"{band(rmse[m]):>28}" for m in methods)
        if extra:
            d = np.array(rmse["physics-gp"]) - np.array(rmse["gp"])
            row += f"  {d.mean():>+22.3f} ± {d.std(ddof=1) / math.sqrt(len(d)):.3f}"
        print(f"   {n:>3}  {row}", flush=True)


def speed(repeats: int) -> None:
    print(f"\n4. Step time of a 5-network PINN ensemble at 20 observations ({repeats} repeats; {_bench.load_avg()})")
    rng = np.random.default_rng(7)
    t, env = rng.uniform(0, 300, 20), rng.uniform(10, 40, 20)
    y = truth(t, env) + NOISE * rng.standard_normal(20)
    X = encode(t, env)
    model("pinn", 99).fit(X[:5], y[:5])  # compile the training loop once (as the first step of a process does)
    first, warm, iters, cpu_first, cpu_warm = [], [], [], [], []
    for k in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        m19 = model("pinn", k).fit(X[:19], y[:19])
        first.append(time.perf_counter() - t0)
        cpu_first.append(time.process_time() - c0)
        m20 = model("pinn", k + 100)
        m20.set_state(m19.get_state())
        t0, c0 = time.perf_counter(), time.process_time()
        m20.fit(X, y)
        warm.append(time.perf_counter() - t0)
        cpu_warm.append(time.process_time() - c0)
        iters.append(m20.fit_info.get("lbfgs_evaluations", 0))
    print(f"   first fit (19 obs): median {statistics.median(first):.2f} s (min {min(first):.2f}, "
          f"max {max(first):.2f}); CPU (all threads) median {statistics.median(cpu_first):.2f} s")
    print(f"   warm-started step (20 obs): median {statistics.median(warm):.2f} s (min {min(warm):.2f}, "
          f"max {max(warm):.2f}); CPU median {statistics.median(cpu_warm):.2f} s; L-BFGS evaluations median "
          f"{statistics.median(iters):.0f}")


LOOP_YAML = """
name: loop
seed: {seed}
space:
  parameters:
    - {{name: T_env, type: float, low: 10.0, high: 40.0}}
objective: {{name: T, goal: target, target_value: 40.0}}
oracle: {{kind: function, params: {{function: sphere}}}}
model: {{kind: {model}, params: {params}}}
acquisition: {{kind: target}}
initial: {{n: {initial}, method: random}}
budget: {{max_experiments: 30}}
"""
LOOP_R, LOOP_T = 0.001, 1800.0


def loop_truth(env: float, drift: float) -> float:
    """T at t = 30 min; with drift, the environment warms by ``drift`` C per 30 min during the run."""
    t, r = LOOP_T, LOOP_R
    a = drift / LOOP_T
    return env + a * t - a / r + (T0 - env + a / r) * math.exp(-r * t)


def closed_loop(seeds: int, drift: float = 0.0, budget: int = 30, tol: float = 1.0, predict_tol: float = 0.5) -> None:
    """The target campaign: which T_env brings the sample to 40 C at t = 30 min (r = 0.001/s, noise 0.5 C)?

    Two counts per run: experiments until a measurement is within ``tol`` of 40 C, and the issue's
    criterion: experiments until the model's prediction at the T_env it chose is within ``predict_tol`` of
    40 C and the measurement there confirms it (within ``tol``, two noise sds)."""
    import tempfile
    from pathlib import Path

    from orchestrator.config import load_campaign
    from orchestrator.proposer import Proposer, step_rng

    params = {"physics": "newton-cooling", "settings": {"T0": T0}, "inputs": {"t": LOOP_T},
              "constants": {"r": {"low": 1e-4, "high": 0.1}}}
    what = f"the environment warms by {drift:g} C during the 30 min (not Newtonian)" if drift else "Newtonian truth"
    print(f"\n{'6' if drift else '5'}. Closed loop, {what}: T_env in [10, 40] C so that T(30 min) = 40 C; "
          f"noise 0.5 C; random initial points (2, or 1 for physics-gp where said), then the target acquisition "
          f"(budget {budget}); {seeds} seeds. "
          f"(a) experiments until a measurement is within {tol:g} C of 40 C; (b) until the prediction at the "
          f"chosen T_env is within {predict_tol:g} C of 40 C and the measurement there is within {tol:g} C")
    # physics-gp asks its model from the first measurement on (min_observations = 1): run it with one random
    # initial point as well as with the plain GP's two
    runs = {"physics-gp": ("physics-gp", 2), "physics-gp, 1 initial": ("physics-gp", 1), "gp": ("gp", 2)}
    needed: dict[str, list[int]] = {k: [] for k in runs}
    confirmed: dict[str, list[int]] = {k: [] for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (model_kind, initial) in runs.items():
            for seed in range(seeds):
                text = LOOP_YAML.format(seed=seed, model=model_kind, initial=initial,
                                        params=json.dumps(params) if model_kind == "physics-gp" else "{}")
                path = Path(tmp) / f"{model_kind}-{initial}-{seed}.yaml"
                path.write_text(text)
                prop = Proposer(load_campaign(path))
                rng = np.random.default_rng(seed)
                observed: list[dict] = prop.initial_design(step_rng(seed, 0))
                values = [loop_truth(p["T_env"], drift) + 0.5 * rng.standard_normal() for p in observed]
                n = next((i + 1 for i, v in enumerate(values) if abs(v - 40.0) <= tol), None)
                m = None
                step = 1
                while (n is None or m is None) and len(observed) < budget:
                    proposal = prop.propose(observed=observed, values=values, busy=[], used=observed, n=1,
                                            step=step, rng=step_rng(seed, step))
                    p = proposal.params[0]
                    predicted = None
                    if proposal.model is not None:
                        predicted = float(proposal.model.predict(prop.space.encode([p]))[0][0])
                    observed.append(p)
                    values.append(loop_truth(p["T_env"], drift) + 0.5 * rng.standard_normal())
                    step += 1
                    if n is None and abs(values[-1] - 40.0) <= tol:
                        n = len(observed)
                    if m is None and predicted is not None and abs(predicted - 40.0) <= predict_tol \
                            and abs(values[-1] - 40.0) <= tol:
                        m = len(observed)
                needed[label].append(n if n is not None else budget + 1)
                confirmed[label].append(m if m is not None else budget + 1)
    for title, counts in (("(a) a measurement within tolerance", needed),
                          ("(b) prediction within tolerance, confirmed", confirmed)):
        print(f"   {title}:")
        b = np.array(counts["gp"])
        for k, v in counts.items():
            v = np.array(v)
            line = f"   {k:>21}: median {np.median(v):.1f} [{np.percentile(v, 5):.0f}, {np.percentile(v, 95):.0f}], " \
                   f"mean {v.mean():.2f}"
            if k != "gp":
                d = v - b
                line += f"; paired difference with gp {d.mean():+.2f} ± {d.std(ddof=1) / math.sqrt(len(d)):.2f} " \
                        f"(SE), gp / it = {b.mean() / v.mean():.2f}x"
            print(line, flush=True)


LEARN_YAML = """
name: learn
seed: {seed}
space:
  parameters:
    - {{name: t, type: float, low: 0.0, high: 300.0}}
objective: {{name: T, goal: max}}
oracle: {{kind: function, params: {{function: sphere}}}}
model: {{kind: physics-gp, params: {params}}}
acquisition: {{kind: max-variance}}
initial: {{n: 2, method: random}}
budget: {{max_experiments: 40}}
"""


def learn_r(seeds: int, goal: float = 0.02, budget: int = 40) -> None:
    """Choosing the measurement times to learn r: max-variance on physics-gp against evenly spaced times."""
    import tempfile
    from pathlib import Path

    from orchestrator.config import load_campaign
    from orchestrator.proposer import Proposer, step_rng

    params = {**PHYSICS, "inputs": {"T_env": T_ENV}}
    even = next(n for n in range(2, 400) if cramer_rao(np.linspace(0, 300, n)) <= goal)
    print(f"\n7. Learning r (T_env = 25 C, noise sd 2 C): measurements until sd(r)/r <= {100 * goal:g}%, with sd the "
          f"Cramer-Rao bound of the times chosen so far (the least-squares fit's asymptotic sd); {seeds} seeds")
    print(f"   evenly spaced times over 0-300 s: {even} measurements")
    for variance in ("total", "law"):
        _learn(seeds, goal, budget, {**params, "variance": variance}, f"max-variance on physics-gp ({variance})")


def _learn(seeds: int, goal: float, budget: int, params: dict, label: str) -> None:
    import tempfile
    from pathlib import Path

    from orchestrator.config import load_campaign
    from orchestrator.proposer import Proposer, step_rng

    needed, model_sd = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            path = Path(tmp) / f"learn-{seed}.yaml"
            path.write_text(LEARN_YAML.format(seed=seed, params=json.dumps(params)))
            prop = Proposer(load_campaign(path))
            rng = np.random.default_rng(seed)
            observed = prop.initial_design(step_rng(seed, 0))
            values = [float(truth(np.array([p["t"]]), np.array([T_ENV]))[0] + NOISE * rng.standard_normal())
                      for p in observed]
            step, sd_model = 1, float("nan")
            while cramer_rao(np.array([p["t"] for p in observed])) > goal and len(observed) < budget:
                prop_ = prop.propose(observed=observed, values=values, busy=[], used=observed, n=1, step=step,
                                     rng=step_rng(seed, step))
                p = prop_.params[0]
                observed.append(p)
                values.append(float(truth(np.array([p["t"]]), np.array([T_ENV]))[0] + NOISE * rng.standard_normal()))
                r_m, r_sd = prop_.model.constants()["r"]
                sd_model = r_sd / r_m
                step += 1
            needed.append(len(observed))
            model_sd.append(sd_model)
    a = np.array(needed)
    print(f"   {label}: median {np.median(a):.0f} [{np.percentile(a, 5):.0f}, "
          f"{np.percentile(a, 95):.0f}] measurements (mean {a.mean():.1f}); the model's own sd(r)/r one "
          f"measurement earlier: median {100 * np.nanmedian(model_sd):.1f}%", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="5 seeds, n = 10 only, 2 speed repeats")
    ap.add_argument("--skip-pinn", action="store_true", help="leave the PINN out (it is the slow one)")
    ap.add_argument("--only", choices=["recover", "predict", "wrong", "speed", "loop", "learn"], default=None)
    args = ap.parse_args()
    _bench.quiet_tensorflow()
    seeds = 5 if args.quick else args.seeds
    sizes = (10,) if args.quick else (5, 10, 20)
    pinn = [] if args.skip_pinn else ["pinn"]
    print(f"physics benchmark: {_bench.load_avg()}")
    t0 = time.perf_counter()
    if args.only in (None, "recover"):
        recover_r(seeds, sizes, ["curve_fit", "physics-gp"] + pinn)
    if args.only in (None, "predict"):
        prediction(seeds, sizes, pinn + ["physics-gp", "gp"])
    if args.only in (None, "wrong"):
        prediction(seeds, sizes, ["physics-gp", "gp"], drift=30.0)
    if args.only in (None, "speed") and not args.skip_pinn:
        speed(2 if args.quick else 5)
    if args.only in (None, "loop"):
        closed_loop(seeds)
        closed_loop(seeds, drift=15.0)
    if args.only in (None, "learn"):
        learn_r(seeds)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
