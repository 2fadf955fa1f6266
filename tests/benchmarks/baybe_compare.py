"""BayBE on the pool benchmarks, with looplab's protocol and looplab's initial rows.

What it measures
----------------
For each pool benchmark of Liang et al., npj Comput. Mater. 7, 188 (2021)
(crossed_barrel, p3ht, agnp, autoam, perovskite; the CSVs in
../shared/datasets/pvlab, the goal and the input columns from
campaigns/benchmarks/<pool>.yaml), it runs BayBE's *default* recommender
(``TwoPhaseMetaRecommender``: random until the first measurement, then
``BotorchRecommender`` = GP surrogate + qLogEI, exhaustive over the discrete
pool) as a closed loop over the pool, batch size 1, budget 50, seeds 0..19:

- the first two experiments of a seed are the rows looplab drew for the same
  seed (``--initial-from``); they are added as measurements before the first
  ``recommend``, so every recommendation comes from the Bayesian phase
  (the meta recommender switches after 1 measurement by default);
- the search space is the pool itself (``SearchSpace.from_dataframe`` with one
  ``NumericalDiscreteParameter`` per numeric input column and one
  ``CategoricalParameter`` (BayBE's default one-hot encoding) per column the
  campaign declares in ``space.pool.categorical``) and a measured row is never
  recommended again (``allow_recommending_already_measured=False``);
- the pool is read as looplab reads it: the rows kept by ``space.pool.where``
  (e.g. one temperature of direct arylation), UTF-8 with or without a BOM;
- the "experiment" is a look-up of the row's objective (the campaign's
  objective column when the pool declares categorical columns or a filter,
  else the last CSV column). Rows with identical inputs, if any, are averaged
  into one pool row, in the order of their first row (looplab's pool order).

Per run it records the picks (0-based CSV data rows), their values,
Top%(i) for i = 1..budget (share of the top set, the best ceil(0.05 N) rows for
the goal, ties broken by row order, found after i experiments; the initial rows
are experiments 1 and 2), the experiments to the pool's best value, and the wall
seconds of each ``recommend`` call. One JSON per pool goes to ``--out``, and a
summary table is printed.

Installing BayBE (NOT a looplab dependency; keep it in its own venv)
--------------------------------------------------------------------
    python3.11 -m venv /tmp/baybe/venv
    /tmp/baybe/venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu  # optional, CPU torch
    /tmp/baybe/venv/bin/pip install "baybe==0.15.*"

(PyYAML is optional: without it the two fields needed from the campaign YAML
are read with a small fallback parser.)

Command line (from the repository root)
---------------------------------------
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
    nice -n 19 /tmp/baybe/venv/bin/python tests/benchmarks/baybe_compare.py \\
        --pools crossed_barrel p3ht agnp autoam perovskite --seeds 20 --budget 50 \\
        --initial-from /tmp/baybe/initial.json --out /tmp/baybe/out

The Olympus pools (not used to choose looplab's defaults) run the same way with
``--spec-dir campaigns/benchmarks/olympus --pools fullerenes colors_bob``, the
categorical pools with ``--spec-dir campaigns/benchmarks/direct_arylation
--pools 90 105 120`` and ``--spec-dir campaigns/benchmarks/olympus --pools
perovskites``. ``--batch 2 --budget 20`` runs Fitzner et al.'s setup (the two
initial rows, then batches of 2 up to 20 experiments); the summary's best@10
and best@20 are the mean best objective after 10 and 20 experiments.

``--initial-from`` takes either a JSON file {pool: {"initial": {seed: [i, j]}}},
a looplab ``benchmark.json`` (``strategies[0].runs[*].picks[:2]``), or a
directory holding ``initial.json`` or ``<pool>-base/benchmark.json`` /
``<pool>-acq/benchmark.json``. ``--summary-only`` reprints the table from the
JSONs already in ``--out``. When ``--initial-from`` is such a folder of looplab
benchmarks, the summary also compares looplab's runs with BayBE's seed by seed
(the same seeds and initial rows): the mean difference in Top% @25 and @50, its
paired standard error, and on how many seeds each is ahead.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

POOLS = ("crossed_barrel", "p3ht", "agnp", "autoam", "perovskite")
REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "campaigns" / "benchmarks"


# ----------------------------------------------------------------------------
# Campaign spec and pool
# ----------------------------------------------------------------------------
def read_spec(path: Path) -> dict:
    """Return {"inputs", "goal", "path", "objective", "categorical", "where"} of a pool campaign."""
    text = path.read_text()
    try:
        import yaml  # type: ignore

        doc = yaml.safe_load(text)
        pool = doc["space"]["pool"]
        return {
            "inputs": list(pool["inputs"]),
            "goal": str(doc["objective"]["goal"]).lower(),
            "path": pool["path"],
            "objective": doc["objective"].get("name"),
            "categorical": list(pool.get("categorical") or []),
            "where": dict(pool.get("where") or {}),
        }
    except ImportError:
        pass
    # Fallback: the benchmark YAMLs write these as one-line scalars / flow lists.
    def grab(key: str, default: str | None = None) -> str:
        m = re.search(rf"^\s*{key}:\s*(.+?)\s*(#.*)?$", text, re.MULTILINE)
        if not m:
            if default is not None:
                return default
            raise ValueError(f"{path}: no '{key}:'")
        return m.group(1)

    def unquote(s: str) -> str:
        s = s.strip()
        return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s

    if grab("where", "-") != "-":
        raise ValueError(f"{path}: has a where: filter; install PyYAML to read it")
    return {
        "inputs": json.loads(grab("inputs")),
        "goal": unquote(grab("goal")).lower(),
        "path": unquote(grab("path")),
        "objective": None,
        "categorical": json.loads(grab("categorical", "[]")),
        "where": {},
    }


def _matches(series, wanted):
    """Rows of a column equal to a where: value (or one of a list), numbers compared as numbers."""
    import pandas as pd

    wanted = wanted if isinstance(wanted, list) else [wanted]
    keep = pd.Series(False, index=series.index)
    for w in wanted:
        if isinstance(w, (int, float)) and not isinstance(w, bool):
            keep |= (pd.to_numeric(series, errors="coerce") - float(w)).abs() <= 1e-9 * max(1.0, abs(float(w)))
        else:
            keep |= series.astype(str).str.strip() == str(w)
    return keep


def load_pool(csv: Path, inputs: list[str], objective: str | None = None, categorical=(), where=None):
    """Inputs frame (index 0..N-1) and objective array; duplicate inputs averaged.

    As looplab reads a pool: UTF-8 with or without a byte-order mark, the rows kept by ``where``,
    ``categorical`` columns as text (stripped) and the others as floats, duplicates averaged in the order
    of their first row. The objective is ``objective`` or, when None, the last column.
    """
    import pandas as pd

    df = pd.read_csv(csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    cols = list(df.columns)
    obj = objective or cols[-1]
    if objective is None and list(inputs) != cols[:-1]:
        raise ValueError(f"{csv}: YAML inputs {inputs} != CSV input columns {cols[:-1]}")
    for name, wanted in (where or {}).items():
        df = df[_matches(df[name], wanted)]
    df = df[list(inputs) + [obj]].copy()
    for c in inputs:
        df[c] = df[c].str.strip() if c in categorical else df[c].astype(float)
    df[obj] = df[obj].astype(float)
    df = df.reset_index(drop=True)
    n_raw = len(df)
    if df.duplicated(subset=inputs).any():
        # average duplicates, keeping the order of first occurrence
        df = df.groupby(inputs, sort=False, as_index=False)[obj].mean()
    df = df.reset_index(drop=True)
    return df[inputs], df[obj].to_numpy(dtype=float), obj, n_raw


def top_set(values, goal: str, k: int) -> list[int]:
    """Indices of the best k rows for the goal; ties go to the earlier row."""
    order = sorted(range(len(values)), key=lambda i: (-values[i] if goal == "max" else values[i], i))
    return sorted(order[:k])


# ----------------------------------------------------------------------------
# Initial rows
# ----------------------------------------------------------------------------
def _initial_from_benchmark_json(doc: dict) -> dict[int, list[int]]:
    return {int(r["seed"]): [int(i) for i in r["picks"][:2]] for r in doc["strategies"][0]["runs"]}


def _looplab_benchmark(src: Path, pool: str) -> dict | None:
    """looplab's benchmark.json of the pool in a folder of them (``<pool>-base`` or ``<pool>-acq``)."""
    for suffix in ("base", "acq"):
        f = src / f"{pool}-{suffix}" / "benchmark.json"
        if f.is_file():
            return json.loads(f.read_text())
    return None


def load_initial(src: Path, pool: str) -> dict[int, list[int]]:
    if src.is_dir():
        if (src / "initial.json").is_file():
            return load_initial(src / "initial.json", pool)
        doc = _looplab_benchmark(src, pool)
        if doc is not None:
            return _initial_from_benchmark_json(doc)
        raise FileNotFoundError(f"no initial rows for {pool} under {src}")
    doc = json.loads(src.read_text())
    if "strategies" in doc:
        return _initial_from_benchmark_json(doc)
    entry = doc[pool]
    table = entry["initial"] if "initial" in entry else entry
    return {int(s): [int(i) for i in v] for s, v in table.items()}


# ----------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------
def run_one(X, y, obj: str, goal: str, seed: int, init: list[int], budget: int,
            top: set[int], best_value: float, categorical=(), batch: int = 1) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from baybe import Campaign
    from baybe.objectives import SingleTargetObjective
    from baybe.parameters import CategoricalParameter, NumericalDiscreteParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget

    try:  # BayBE >= 0.14: seeds via the settings object
        from baybe import Settings

        seed_ctx = Settings(random_seed=seed)
    except (ImportError, TypeError):
        seed_ctx = None
        from baybe.utils.random import set_random_seed

        set_random_seed(seed)
    # also seed the global generators directly (harmless if BayBE did it already)
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    # text columns: BayBE's CategoricalParameter with its default encoding (one-hot); numbers as before
    params = [CategoricalParameter(name=c, values=sorted(set(X[c].tolist()))) if c in categorical
              else NumericalDiscreteParameter(name=c, values=sorted(set(X[c].tolist()))) for c in X.columns]
    space = SearchSpace.from_dataframe(X, parameters=params)
    target = NumericalTarget(name=obj, minimize=(goal == "min"))
    campaign = Campaign(
        searchspace=space,
        objective=SingleTargetObjective(target),
        allow_recommending_already_measured=False,
        allow_recommending_already_recommended=False,
    )

    # exact row look-up for mapping recommendations back to pool rows
    key = {tuple(row): i for i, row in enumerate(X.itertuples(index=False, name=None))}

    def measure(rows: list[int]) -> None:
        m = X.iloc[rows].copy()
        m[obj] = y[rows]
        campaign.add_measurements(m)

    picks = list(init)
    seconds: list[float] = []
    ctx = seed_ctx if seed_ctx is not None else _Null()
    with ctx:
        measure(picks)
        # which recommender BayBE's meta recommender hands the first request to
        phase = type(campaign.recommender.get_non_meta_recommender(
            1, space, campaign.objective, campaign.measurements, None)).__name__
        while len(picks) < budget:
            t0 = time.perf_counter()
            rec = campaign.recommend(batch_size=min(batch, budget - len(picks)))
            seconds.append(time.perf_counter() - t0)
            rows = []
            for values in rec[list(X.columns)].itertuples(index=False, name=None):
                row = key[tuple(v if c in categorical else float(v) for c, v in zip(X.columns, values))]
                if row in picks or row in rows:
                    raise RuntimeError(f"seed {seed}: BayBE recommended measured row {row}")
                rows.append(row)
            picks += rows
            measure(rows)

    values = [float(y[i]) for i in picks]
    found = 0
    top_fraction = []
    to_best = None
    for n, (i, v) in enumerate(zip(picks, values), start=1):
        found += i in top
        top_fraction.append(found / len(top))
        if to_best is None and v == best_value:
            to_best = n
    return {
        "seed": seed,
        "picks": picks,
        "values": values,
        "top_fraction": top_fraction,
        "experiments_to_best": to_best,
        "seconds_per_recommendation": statistics.median(seconds) if seconds else None,
        "recommend_seconds": seconds,
        "first_recommender": phase,
    }


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ----------------------------------------------------------------------------
# Pool loop, summary
# ----------------------------------------------------------------------------
def _versions() -> dict:
    out = {}
    for mod in ("baybe", "torch", "botorch", "gpytorch", "numpy", "pandas"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except ImportError:
            out[mod] = None
    return out


def summarise(doc: dict) -> dict:
    runs = doc["runs"]
    b = doc["budget"]
    s = {}
    for at in (25, 50):
        if at <= b and runs:
            vals = [r["top_fraction"][at - 1] for r in runs]
            s[f"mean_top_at_{at}"] = statistics.fmean(vals)
            s[f"median_top_at_{at}"] = statistics.median(vals)
            s[f"min_top_at_{at}"] = min(vals)
    pick = max if doc.get("goal", "max") == "max" else min
    for at in (10, 20):
        if at <= b and runs:  # the best objective measured in the first `at` experiments (Fitzner et al.)
            s[f"mean_best_at_{at}"] = statistics.fmean(pick(r["values"][:at]) for r in runs)
    if runs:
        last = [r["top_fraction"][b - 1] for r in runs]
        s["mean_top_at_budget"] = statistics.fmean(last)
        s["median_seconds_per_recommendation"] = statistics.median(
            t for r in runs for t in r["recommend_seconds"])
    return s


def run_pool(pool: str, args) -> dict:
    import torch

    torch.set_num_threads(1)
    spec_path = Path(args.spec_dir) / f"{pool}.yaml"
    spec = read_spec(spec_path)
    csv = Path(args.data_dir) / f"{pool}.csv" if args.data_dir else (spec_path.parent / spec["path"]).resolve()
    X, y, obj, n_raw = load_pool(csv, spec["inputs"], spec["objective"] if spec["where"] or spec["categorical"]
                                 else None, spec["categorical"], spec["where"])
    goal = spec["goal"]
    if goal not in ("max", "min"):
        raise ValueError(f"{pool}: goal {goal!r}")
    if len(X) != n_raw:
        print(f"[{pool}] {n_raw - len(X)} duplicate input rows averaged; pick indices refer to the "
              f"de-duplicated pool", file=sys.stderr)
    n = len(X)
    k = math.ceil(0.05 * n)
    top = top_set(list(y), goal, k)
    best_value = float(y.max() if goal == "max" else y.min())
    initial = load_initial(Path(args.initial_from), pool)
    out_path = Path(args.out) / f"{pool}.json"
    doc = {
        "pool": pool,
        "dataset": str(csv),
        "spec": str(spec_path),
        "objective": obj,
        "goal": goal,
        "inputs": list(X.columns),
        "categorical": spec["categorical"],
        "where": spec["where"],
        "batch": args.batch,
        "n_pool": n,
        "top_set_size": k,
        "top_set": top,
        "best_value": best_value,
        "seeds": [],
        "budget": args.budget,
        "baybe_version": _versions()["baybe"],
        "versions": _versions(),
        "recommender": "BayBE default: TwoPhaseMetaRecommender(RandomRecommender -> "
                       "BotorchRecommender(GaussianProcessSurrogate, qLogEI)); 2 initial rows "
                       "given as measurements, so only the Bayesian phase recommends",
        "initial_from": str(args.initial_from),
        "runs": [],
    }
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if seed not in initial:
            raise KeyError(f"{pool}: no initial rows for seed {seed}")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = run_one(X, y, obj, goal, seed, initial[seed], args.budget, set(top), best_value,
                        spec["categorical"], args.batch)
        doc["runs"].append(r)
        doc["seeds"].append(seed)
        doc.update(summarise(doc))
        out_path.write_text(json.dumps(doc, indent=1))
        print(f"[{pool}] seed {seed}: Top%@25 {r['top_fraction'][min(25, args.budget) - 1]:.3f} "
              f"@{args.budget} {r['top_fraction'][-1]:.3f}  best@{r['experiments_to_best']}  "
              f"{r['seconds_per_recommendation']:.2f} s/rec  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return doc


def print_table(docs: list[dict]) -> None:
    hdr = (f"{'pool':<15}{'N':>5}{'seeds':>6}{'mean@25':>9}{'mean@50':>9}{'med@50':>8}{'min@50':>8}{'s/rec':>7}"
           f"{'best@10':>9}{'best@20':>9}")
    print(hdr)
    print("-" * len(hdr))
    for d in docs:
        f = lambda key: f"{d[key]:.3f}" if key in d else "-"  # noqa: E731
        print(f"{d['pool']:<15}{d['n_pool']:>5}{len(d['runs']):>6}{f('mean_top_at_25'):>9}"
              f"{f('mean_top_at_50'):>9}{f('median_top_at_50'):>8}{f('min_top_at_50'):>8}"
              f"{d.get('median_seconds_per_recommendation', float('nan')):>7.2f}"
              f"{d.get('mean_best_at_10', float('nan')):>9.2f}{d.get('mean_best_at_20', float('nan')):>9.2f}")


def print_paired(docs: list[dict], src: Path) -> None:
    """looplab minus BayBE, seed by seed (same seeds, same two initial rows): the mean difference in Top%
    and its paired standard error, and on how many seeds each is ahead. Only when ``src`` (--initial-from)
    is a folder of looplab benchmarks."""
    for d in docs:
        doc = _looplab_benchmark(src, d["pool"]) if src.is_dir() else None
        if doc is None:
            continue
        theirs = {r["seed"]: r for r in d["runs"]}
        pairs = [(r, theirs[r["seed"]]) for r in doc["strategies"][0]["runs"] if r["seed"] in theirs]
        if len(pairs) < 2:
            continue
        differ = [a["seed"] for a, b in pairs if a["picks"][:2] != b["picks"][:2]]
        if differ:
            print(f"{d['pool']:<15} not compared: the initial rows of seeds {differ[:5]} differ between "
                  f"looplab's and BayBE's runs (were they made from another benchmark.json?)", file=sys.stderr)
            continue
        for i in (25, 50):
            if i > d["budget"]:
                continue
            diff = [a["top_fraction"][i - 1] - b["top_fraction"][i - 1] for a, b in pairs]
            se = statistics.stdev(diff) / math.sqrt(len(diff))
            print(f"{d['pool']:<15} @{i}: looplab - BayBE = {statistics.fmean(diff):+.3f} +/- {se:.3f} "
                  f"(paired SE, {len(diff)} seeds); looplab ahead on {sum(x > 0 for x in diff)}, "
                  f"behind on {sum(x < 0 for x in diff)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pools", nargs="+", default=list(POOLS),
                    help="campaign names in --spec-dir (default: the five pvlab pools; with "
                         "--spec-dir campaigns/benchmarks/olympus: fullerenes, colors_bob)")
    ap.add_argument("--seeds", type=int, default=20, help="seeds FIRST..FIRST+SEEDS-1")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="first seed (default 0); run seed ranges in parallel with separate --out folders")
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1, help="experiments per recommend call (default 1)")
    ap.add_argument("--initial-from", default="/tmp/baybe/initial.json",
                    help="initial picks: JSON file or directory (see the docstring)")
    ap.add_argument("--out", default="/tmp/baybe/out")
    ap.add_argument("--spec-dir", default=str(SPEC_DIR), help="campaign YAMLs (goal, inputs)")
    ap.add_argument("--data-dir", default=None, help="override the CSV folder")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    missing = [p for p in args.pools if not (Path(args.spec_dir) / f"{p}.yaml").is_file()]
    if missing and not args.summary_only:
        ap.error(f"--pools: no campaign file {', '.join(m + '.yaml' for m in missing)} in --spec-dir "
                 f"{args.spec_dir}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    docs = []
    for pool in args.pools:
        if args.summary_only:
            f = Path(args.out) / f"{pool}.json"
            if f.is_file():
                docs.append(json.loads(f.read_text()))
            continue
        docs.append(run_pool(pool, args))
    print_table(docs)
    print_paired(docs, Path(args.initial_from))
    return 0


if __name__ == "__main__":
    sys.exit(main())
