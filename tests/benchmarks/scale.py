"""Scale: one `looplab daemon` (a real process) driving N campaigns against one mock robot (a real process,
real HTTP), whose experiments take 30-120 lab seconds (uniform; ``--speedup`` lab seconds per real second,
1 by default: real time).

Each campaign: Branin on the robot (no faults), an initial design of 2 Sobol points, then one proposal at a
time (``--model``, GP by default; EI), budget 40 (never reached in the window). The daemon runs for
``--seconds`` of wall time, then gets SIGTERM; the figures come from its store and the robot's jobs:

- recording delay: from a result being available at the robot (the job's finished_at, lab time mapped to
  wall time through the robot's /health clock) to the daemon recording it in the store (finished_at);
- proposal delay: from the record that freed a campaign's slot to its next experiment being submitted to
  the robot (submitted_at in the store);
- first step: from the daemon's start (just before its process is launched) to each campaign's first
  experiment being written (created_at);

and the daemon's CPU time (user + system, all threads) and peak RSS (VmHWM), read from /proc before it stops.
A result still unrecorded, a slot still unfilled, or a campaign still without a step when the daemon stops
counts with the time it had waited so far (a lower bound), and the number of such cases is printed.

Run from the repository root (2 cores are shared: nice it)::

    nice -n 10 .venv/bin/python tests/benchmarks/scale.py --n 100 300 [--seconds 300] [--model gp]
    nice -n 10 .venv/bin/python tests/benchmarks/scale.py --n 1000 --model random-forest \
        --model-params '{"n_estimators": 20}'
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CAMPAIGN = """
name: {name}
seed: {seed}
space:
  parameters:
    - {{name: x1, type: float, low: -5.0, high: 10.0}}
    - {{name: x2, type: float, low: 0.0, high: 15.0}}
objective: {{name: value, goal: min}}
oracle: {{kind: robot, params: {{url: "{url}"}}}}
model: {{kind: {model}, params: {params}}}
acquisition: {{kind: ei, batch_size: 1}}
initial: {{n: 2, method: sobol}}
budget: {{max_experiments: 40}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wall(dt) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp()


def proc_figures(pid: int) -> tuple[float, float]:
    """(CPU seconds, user + system, of every thread; peak RSS in MB) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return cpu, peak / 1024


def pct(values: list[float]) -> str:
    if not values:
        return "-"
    p = np.percentile(values, [50, 95, 99])
    return f"{p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f}"


def run(n: int, *, seconds: float, model: str, params: dict, workers: int, interval: float, speedup: float,
        folder: Path) -> dict:
    import httpx
    import yaml

    from orchestrator.store import Store

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (folder / "campaigns").mkdir(parents=True)
    (folder / "robot.yaml").write_text(yaml.safe_dump({
        "name": "scale", "seed": 1, "stations": min(1000, 2 * n), "speedup": speedup,
        "duration": {"mean": 75.0, "jitter": 45.0}, "noise": 0.01,
        "ground_truth": {"kind": "function", "function": "branin", "parameters": ["x1", "x2"]}}))
    robot = subprocess.Popen([sys.executable, "-m", "orchestrator", "mock-robot", "serve", "--port", str(port),
                              "--config", str(folder / "robot.yaml"), "--db", str(folder / "robot.db")],
                             cwd=ROOT, env=env, stdout=open(folder / "robot.out", "w"),
                             stderr=open(folder / "robot.err", "w"))
    http = httpx.Client(base_url=url, timeout=30)
    clocks: list[float] = []  # wall time minus lab time / speedup, at each /health

    def health() -> dict:
        t0 = time.time()
        h = http.get("/health").json()
        clocks.append((t0 + time.time()) / 2 - h["clock"] / speedup)
        return h

    deadline = time.monotonic() + 120
    while True:
        try:
            health()
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and robot.poll() is None, (folder / "robot.err").read_text()
            time.sleep(0.2)
    for k in range(n):
        (folder / "campaigns" / f"s{k:04d}.yaml").write_text(
            CAMPAIGN.format(name=f"s{k:04d}", seed=k, url=url, model=model, params=json.dumps(params)))
    store_url = f"sqlite:///{folder / 'store.db'}"
    started = time.time()
    daemon = subprocess.Popen([sys.executable, "-m", "orchestrator", "daemon", str(folder / "campaigns"),
                               "--store", store_url, "--workers", str(workers), "--interval", str(interval),
                               "--log-file", str(folder / "daemon.log")],
                              cwd=ROOT, env=env, stdout=open(folder / "daemon.out", "w"),
                              stderr=subprocess.DEVNULL)
    end = started + seconds
    while time.time() < end:
        assert daemon.poll() is None, f"the daemon exited with {daemon.returncode}; see {folder / 'daemon.log'}"
        time.sleep(min(10.0, max(0.0, end - time.time())))
        health()
    cpu, peak = proc_figures(daemon.pid)
    stopped = time.time()
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=120)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    jobs = {j["id"]: j for j in http.get("/jobs").json()["jobs"]}
    http.close()
    robot.send_signal(signal.SIGTERM)
    try:
        robot.wait(timeout=30)
    except subprocess.TimeoutExpired:
        robot.kill()
    offset = float(np.median(clocks))

    store = Store(store_url)
    recording, proposal, first = [], [], []
    unrecorded = unproposed = no_step = 0
    fits = []
    for c in store.list_campaigns():
        exps = store.experiments(c.id)
        fits += [s["fit_seconds"] for s in store.steps(c.id) if s.get("source") == "model"]
        if not exps:
            no_step += 1
            first.append(stopped - started)
            continue
        first.append(min(wall(e.created_at) for e in exps) - started)
        records = sorted(wall(e.finished_at) for e in exps if e.finished_at is not None)
        for e in exps:
            job = jobs.get(e.id)
            if job is None or job["finished_at"] is None:
                continue
            available = offset + job["finished_at"] / speedup
            if available > stopped:
                continue
            if e.finished_at is None:
                unrecorded += 1
                recording.append(stopped - available)
            else:
                recording.append(wall(e.finished_at) - available)
            if e.step >= 1 and e.submitted_at is not None:
                before = [t for t in records if t <= wall(e.created_at)]
                if before:
                    proposal.append(wall(e.submitted_at) - before[-1])
        in_flight = [e for e in exps if e.status in ("proposed", "submitted", "running")]
        if not in_flight and records:
            unproposed += 1
            proposal.append(stopped - records[-1])
    if params:
        model += " " + json.dumps(params)
    return {"n": n, "model": model, "seconds": seconds, "recording": recording, "proposal": proposal,
            "first": first, "unrecorded": unrecorded, "unproposed": unproposed, "no_step": no_step,
            "cpu": cpu, "peak_mb": peak, "fits": fits,
            "experiments": sum(1 for j in jobs.values()), "finished": sum(j["finished_at"] is not None
                                                                          for j in jobs.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100, 300], help="numbers of campaigns (one run each)")
    ap.add_argument("--seconds", type=float, default=300.0, help="wall seconds each daemon runs")
    ap.add_argument("--model", default="gp", help="the campaigns' model kind (gp, random-forest, ...)")
    ap.add_argument("--model-params", type=json.loads, default={}, help="the model's params, as JSON "
                    "(e.g. '{\"n_estimators\": 20}')")
    ap.add_argument("--workers", type=int, default=2, help="the daemon's --workers")
    ap.add_argument("--interval", type=float, default=1.0, help="the daemon's --interval (seconds)")
    ap.add_argument("--speedup", type=float, default=1.0, help="the robot's lab seconds per real second")
    ap.add_argument("--keep", action="store_true", help="keep each run's folder (stores, logs) and say where")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores); model {args.model}, "
          f"{args.seconds:g} s per run, daemon --workers {args.workers} --interval {args.interval:g}, robot "
          f"speedup {args.speedup:g} (experiments 30-120 lab s)", flush=True)
    rows = []
    for n in args.n:
        folder = Path(tempfile.mkdtemp(prefix=f"looplab-scale-{n}-"))
        try:
            r = run(n, seconds=args.seconds, model=args.model, params=args.model_params, workers=args.workers,
                    interval=args.interval, speedup=args.speedup, folder=folder)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                print(f"N={n}: kept {folder}")
        rows.append(r)
        fit = f"{np.median(r['fits']):.2f}" if r["fits"] else "-"
        print(f"N={n}: {r['finished']} results at the robot of {r['experiments']} experiments; model fits "
              f"{len(r['fits'])} (median {fit} s); CPU {r['cpu']:.0f} s in {args.seconds:g} s; peak RSS "
              f"{r['peak_mb']:.0f} MB; unrecorded at stop {r['unrecorded']}, slots unfilled at stop "
              f"{r['unproposed']}, campaigns without a step {r['no_step']}; load {os.getloadavg()[0]:.1f}",
              flush=True)
    print()
    print(f"| N | model | recording delay p50/p95/p99 (s) | proposal delay p50/p95/p99 (s) | first step "
          f"p50/p95/max (s) | daemon CPU (s) / wall (s) | peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        f = r["first"]
        firsts = f"{np.percentile(f, 50):.1f} / {np.percentile(f, 95):.1f} / {max(f):.1f}" if f else "-"
        print(f"| {r['n']} | {r['model']} | {pct(r['recording'])} | {pct(r['proposal'])} | {firsts} | "
              f"{r['cpu']:.0f} / {r['seconds']:g} | {r['peak_mb']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
