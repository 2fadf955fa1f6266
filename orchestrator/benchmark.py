"""Measuring a campaign: many seeded runs over a pool, compared with random search.

``looplab benchmark SPEC.yaml --dataset CSV`` follows the protocol of
DESIGN.md (Liang et al., npj Comput. Mater. 7, 188 (2021)). The oracle looks
results up in a pool (the CSV: every column but the last is an input, the last
is the objective, duplicate inputs averaged; without ``--dataset`` the spec's
own pool and lookup oracle). Each (strategy, seed) run drives
:class:`~orchestrator.proposer.Proposer` in memory, with no store: ``--initial``
random pool rows (step 0), then ``propose`` until ``--budget`` experiments,
every step's randomness from ``step_rng(seed, step)`` and the model warm-started
from the previous step's fit, exactly as ``looplab run`` would choose. Random
search draws pool rows without replacement from the same initial design and
the same per-step generators. Runs are spread over ``--workers`` processes.
The spec's ``seed``, ``initial``, ``budget`` (``stop_at`` included) and the
lookup oracle's ``noise`` are replaced by the benchmark's own settings.

Strategies (``--strategies``, comma-separated; default: the spec's own):
``model:acquisition:batch`` (batch defaults to 1), each name optionally with
params, e.g. ``random-forest(n_estimators=100):ucb(beta=4):2``. A strategy
using the spec's model or acquisition kind without params keeps the spec's
params for it; a model param naming a field of the model block (e.g.
``transform``) sets that field. Import paths (``pkg.mod:Class``) are not
accepted here. Random search is always added.

Definitions (N = pool size, i = experiments done, 1..budget):

- top set: the best ``ceil(0.05 N)`` rows of the pool for the goal (``target``:
  closest to target_value); ties broken by pool order.
- ``top_fraction[i]`` (Top%): share of the top set found after i experiments.
- random baseline: Top%_random(i) = i / N, the expected Top% of draws without
  replacement.
- ``ef[i]`` (enhancement factor) = Top%(i) / (i / N).
- ``af[t]`` (acceleration factor) for t in 0.5, 0.8 = ceil(t N) (experiments
  random needs on average) / the experiments the run needed to reach
  Top% >= t; ``null`` if not reached within the budget.
- ``experiments_to_best``: experiments until the pool's best row was measured
  (``null`` if never).
- ``best_so_far[i]``: best objective measured after i experiments (raw units;
  for ``target`` the measured value closest to the target).

benchmark.json (every list indexed by experiment has ``budget`` entries, entry
j being i = j + 1; ``pool rows`` are 0-based indices of the pool's unique
candidates in CSV order):

- ``looplab_version``, ``created`` (UTC ISO time), ``spec`` (path), ``campaign`` (name)
- ``dataset`` (absolute CSV path), ``inputs``, ``objective``, ``goal``, ``target_value``
- ``n_pool`` (N), ``top_set_size``, ``top_set`` (pool rows), ``best_value``, ``best_row``
- ``budget``, ``seeds`` (list; ``--first-seed`` K gives K..K+N-1), ``initial``, ``initial_method`` ("random"), ``workers``
- ``thresholds`` ([0.5, 0.8]), ``random_af_experiments`` ({"0.5": ceil(0.5 N), "0.8": ...})
- ``experiments`` ([1..budget]), ``random_top_fraction`` ([i / N])
- ``wall_seconds`` (whole benchmark)
- ``strategies``: list, one per strategy, random search ("random") last:
  - ``name`` (e.g. "gp:ei:1"), ``model``, ``model_params``, ``acquisition``,
    ``acquisition_params``, ``batch_size``
  - ``runs``: one per seed, in ``seeds`` order: ``seed``, ``picks`` (pool rows
    in the order measured), ``values`` (their objective), ``top_fraction``,
    ``ef``, ``best_so_far``, ``experiments_to_threshold`` ({"0.5": i|null,
    "0.8": i|null}), ``af`` ({"0.5": x|null, "0.8": x|null}),
    ``experiments_to_best`` (i|null), ``wall_seconds`` (the run alone: each
    process first fits every model once, untimed, so importing TensorFlow is
    not charged to a seed), ``fit_seconds`` (model fitting within it),
    ``fit_fallbacks`` (model fits that kept the previous hyperparameters)
  - ``summary``: ``top_fraction``, ``ef``, ``best_so_far`` each
    {"median", "mean", "p5", "p95"} lists over seeds; ``af`` {"0.5": stats,
    "0.8": stats} and ``experiments_to_best`` stats, where stats is {"median",
    "mean", "p5", "p95", "n", "n_seeds"} over the seeds that got there (n of
    them; the numbers are null when n = 0); ``wall_seconds`` {"median",
    "mean", "p5", "p95", "total"}

Plots in the same folder: ``top_fraction.png`` (median Top% and 5-95 %
band per strategy, with the random expectation i/N), ``ef.png`` (enhancement
factor) and ``best_so_far.png``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, LooplabError, Problem, reveal

log = logging.getLogger("looplab.benchmark")

TOP_FRACTION = 0.05
THRESHOLDS = (0.5, 0.8)
RANDOM = "random"
MIN_POOL_ROWS = 3


class BenchmarkError(LooplabError):
    """A benchmark run failed for a reason that is not a bad input."""


# ----------------------------------------------------------------------------- metrics (pure)


def goal_scores(values: Sequence[float], goal: str, target: float | None = None) -> np.ndarray:
    """Objective values -> scores where higher is better, for any goal."""
    v = np.asarray(values, dtype=float)
    if goal == "max":
        return v
    if goal == "min":
        return -v
    if target is None:
        raise ValueError("goal 'target' needs a target value")
    return -np.abs(v - target)


def top_set_size(n_pool: int, fraction: float = TOP_FRACTION) -> int:
    return max(1, math.ceil(fraction * n_pool - 1e-9))


def top_set(values: Sequence[float], goal: str, target: float | None = None,
            fraction: float = TOP_FRACTION) -> np.ndarray:
    """Pool rows of the top set: the best ceil(fraction N) rows (ties broken by pool order)."""
    s = goal_scores(values, goal, target)
    order = np.argsort(-s, kind="stable")
    return np.sort(order[: top_set_size(len(s), fraction)])


def random_experiments_needed(t: float, n_pool: int) -> int:
    """Experiments random search needs on average to reach Top% = t (its expected Top% is i/N)."""
    return math.ceil(t * n_pool - 1e-9)


def run_metrics(picks: Sequence[int], values: Sequence[float], goal: str, target: float | None = None, *,
                fraction: float = TOP_FRACTION, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """Top%, EF, AF, experiments to the best and the best-so-far curve of one run.

    ``picks``: the pool rows the run measured, in order; ``values``: the objective of
    every pool row. Lists are indexed by experiment: entry j is after j + 1 experiments.
    """
    values = np.asarray(values, dtype=float)
    n_pool = len(values)
    picks = [int(p) for p in picks]
    scores = goal_scores(values, goal, target)
    top = {int(i) for i in top_set(values, goal, target, fraction)}
    i = np.arange(1, len(picks) + 1)
    found = np.cumsum([p in top for p in picks]) if picks else np.zeros(0)
    top_fraction = found / len(top)
    ef = top_fraction / (i / n_pool)
    picked_scores = scores[picks] if picks else np.zeros(0)
    # index (within picks) of the best-scoring pick so far
    best_pos = np.zeros(len(picks), dtype=int)
    for j in range(1, len(picks)):
        best_pos[j] = j if picked_scores[j] > picked_scores[best_pos[j - 1]] else best_pos[j - 1]
    best_so_far = [float(values[picks[j]]) for j in best_pos]
    to_threshold: dict[str, int | None] = {}
    af: dict[str, float | None] = {}
    for t in thresholds:
        hit = np.nonzero(top_fraction >= t - 1e-12)[0]
        n_needed = int(hit[0]) + 1 if len(hit) else None
        to_threshold[_tkey(t)] = n_needed
        af[_tkey(t)] = None if n_needed is None else random_experiments_needed(t, n_pool) / n_needed
    best_score = float(np.max(scores))
    hit = np.nonzero(picked_scores >= best_score)[0]
    return {
        "top_fraction": [float(x) for x in top_fraction],
        "ef": [float(x) for x in ef],
        "best_so_far": best_so_far,
        "experiments_to_threshold": to_threshold,
        "af": af,
        "experiments_to_best": int(hit[0]) + 1 if len(hit) else None,
    }


def _tkey(t: float) -> str:
    return f"{t:g}"


def _curve_stats(rows: list[list[float]]) -> dict[str, list[float]]:
    a = np.asarray(rows, dtype=float)
    return {"median": np.median(a, axis=0).tolist(), "mean": np.mean(a, axis=0).tolist(),
            "p5": np.percentile(a, 5, axis=0).tolist(), "p95": np.percentile(a, 95, axis=0).tolist()}


def _scalar_stats(xs: Sequence[float | None]) -> dict[str, Any]:
    got = np.asarray([x for x in xs if x is not None], dtype=float)
    out: dict[str, Any] = {"median": None, "mean": None, "p5": None, "p95": None, "n": len(got),
                           "n_seeds": len(xs)}
    if len(got):
        out.update(median=float(np.median(got)), mean=float(np.mean(got)), p5=float(np.percentile(got, 5)),
                   p95=float(np.percentile(got, 95)))
    return out


def summarize(runs: list[dict[str, Any]], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """Median, mean and 5th/95th percentiles over seeds of a strategy's runs."""
    wall = np.asarray([r["wall_seconds"] for r in runs], dtype=float)
    return {
        "top_fraction": _curve_stats([r["top_fraction"] for r in runs]),
        "ef": _curve_stats([r["ef"] for r in runs]),
        "best_so_far": _curve_stats([r["best_so_far"] for r in runs]),
        "af": {_tkey(t): _scalar_stats([r["af"][_tkey(t)] for r in runs]) for t in thresholds},
        "experiments_to_best": _scalar_stats([r["experiments_to_best"] for r in runs]),
        "wall_seconds": {"median": float(np.median(wall)), "mean": float(np.mean(wall)),
                         "p5": float(np.percentile(wall, 5)), "p95": float(np.percentile(wall, 95)),
                         "total": float(np.sum(wall))},
    }


# ----------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Strategy:
    """What chooses the experiments: a model, an acquisition and a batch size (or random search)."""

    model: str
    acquisition: str
    batch_size: int = 1
    model_params: dict = field(default_factory=dict)
    acquisition_params: dict = field(default_factory=dict)
    label: str = ""  # the name as written (params inherited from the campaign are not shown)
    # transfer learning (--transfer-fraction): each seed knows this fraction of the source rows, drawn at random
    transfer_fraction: float | None = None
    permute_source: bool = False  # --permute-source: the known source rows' objective permuted (misleading)
    baseline: bool = False  # the model without transfer that --transfer-fraction adds (no strategy the user wrote)

    @property
    def is_random(self) -> bool:
        return self.model == RANDOM

    @property
    def name(self) -> str:
        if self.is_random:
            return RANDOM
        return self.label or f"{self.model}{_fmt_params(self.model_params)}:{self.acquisition}" \
                             f"{_fmt_params(self.acquisition_params)}:{self.batch_size}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "model_params": dict(self.model_params),
                "acquisition": self.acquisition, "acquisition_params": dict(self.acquisition_params),
                "batch_size": self.batch_size, "transfer_fraction": self.transfer_fraction}


RANDOM_STRATEGY = Strategy(RANDOM, RANDOM, 1)


def _fmt_params(params: dict) -> str:
    if not params:
        return ""
    return "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"


IMPORT_HINT = " (or give an import path package.module:ClassName)"  # plugins' words, not for a strategy
MAX_PARAM_CHARS = 200  # a strategy param's value, as typed
LIST_EXAMPLES = {"auto_methods": "none+multi-task", "hidden": "64+64"}  # list params, written in a strategy
_PART = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*$")


def _parse_part(text: str, what: str, whole: str) -> tuple[str, dict]:
    import yaml

    from oracles import safe_yaml

    m = _PART.match(text)
    if not m:
        raise ConfigError([Problem("--strategies", f"'{whole}': cannot read the {what} '{text}' "
                                                   "(expected a name, optionally with params like ucb(beta=4))")])
    params: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in (m.group(2) or "").split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError([Problem("--strategies", f"'{whole}': {what} param '{item}' is not key=value")])
        if not value.strip():
            raise ConfigError([Problem("--strategies", f"'{whole}': {what} param '{key.strip()}' has no value after "
                                                       "'='; give one, or leave the param out")])
        if len(value.strip()) > MAX_PARAM_CHARS:  # a number or a name: a value this long is a slip, and echoing it
            # whole would bury the message (fuzz round fifteen: 5,000 nines)
            raise ConfigError([Problem("--strategies", f"{what} param '{key.strip()}': its value is "
                                                       f"{len(value.strip()):,} characters long "
                                                       f"('{value.strip()[:20]}...'); give a number or a name")])
        if key.strip() in params:
            raise ConfigError([Problem("--strategies", f"'{whole}': {what} param '{key.strip()}' is given twice; "
                                                       "give it once")])
        try:
            params[key.strip()] = safe_yaml.load(value.strip())  # YAML 1.2: beta=yes stays text
        except safe_yaml.StrictYAMLError as exc:  # 1e-400: read as text, it was "not the string (remove the quotes)"
            raise ConfigError([Problem("--strategies", f"'{whole}': {what} param '{key.strip()}': "
                                                       f"{exc.problem}")]) from None
        except yaml.YAMLError:
            params[key.strip()] = value.strip()
    return m.group(1), params


def _unbalanced(text: str) -> str | None:
    """What is wrong with the parentheses of ``text`` (None when they pair up)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return f"the ')' at character {i + 1} closes no '('"
    return f"{depth} '(' never closed" if depth else None


def parse_strategy(text: str) -> Strategy:
    """``model:acquisition:batch`` (batch defaults to 1), each name optionally with ``(key=value,...)``."""
    whole = text.strip()
    if whole == RANDOM:
        return RANDOM_STRATEGY
    parts = _split_top_level(whole, ":", keep_empty=True)
    if len(parts) not in (2, 3):
        dotted = "." in parts[0] and "(" not in parts[0]  # pkg.mod:Class:ei:1: an import path splits on its ':'
        hint = ("; a strategy names its model and acquisition by their installed kinds (looplab plugins lists "
                "them), not by an import path (pkg.module:Class): register the plugin as an entry point to name it "
                "here") if dotted else ""
        raise ConfigError([Problem("--strategies", f"'{whole}': expected model:acquisition:batch, "
                                                   f"e.g. gp:ei:1 or random-forest:ucb(beta=4):2{hint}")])
    model, model_params = _parse_part(parts[0], "model", whole)
    acq, acq_params = _parse_part(parts[1], "acquisition", whole)
    batch = 1
    if len(parts) == 3:
        batch = int(parts[2]) if re.fullmatch(r"\s*[0-9]+\s*", parts[2]) else 0  # ASCII digits: not 1_0, not ٢
        if batch < 1:
            raise ConfigError([Problem("--strategies", f"'{whole}': the batch size must be a whole number >= 1 "
                                                       f"(got '{parts[2].strip()}')")])
    s = Strategy(model, acq, batch, model_params, acq_params)
    return replace(s, label=s.name)


def parse_strategies(text: str | None, default: Strategy) -> list[Strategy]:
    if text is None or not text.strip():
        return [default]
    if any(not c.isprintable() for c in text):
        raise ConfigError([Problem("--strategies", "holds a line break or another control character; give the "
                                                   "strategies on one line, separated by commas")])
    bad = _unbalanced(text)
    if bad:  # the split on commas follows the parentheses: with these unpaired it would merge strategies
        raise ConfigError([Problem("--strategies", f"'{reveal(text.strip())}': {bad}; each strategy is "
                                                   "model(params):acquisition(params):batch, e.g. "
                                                   "transfer(method=auto):ei:2")])
    out: list[Strategy] = []
    problems: list[Problem] = []
    for item in _split_top_level(text):
        try:
            s = parse_strategy(item)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if s.is_random:
            continue  # always included
        # a strategy with the campaign's own model or acquisition kind keeps the campaign's params for it
        # unless it gives its own
        if s.model == "transfer" and ("source" in s.model_params or default.model != "transfer"):
            # a strategy's params cannot hold a list of sources (commas part the params): they are the file's
            problems.append(Problem("--strategies", f"'{s.name}': a transfer strategy learns from the campaign "
                                    "file's sources (model.params.source), " + (
                                        "so remove source= from it" if "source" in s.model_params else
                                        f"and this campaign's model is '{default.model}', which has none; benchmark "
                                        "a campaign file whose model is kind: transfer with its sources")))
            continue
        if s.model == default.model and not s.model_params:
            s = replace(s, model_params=dict(default.model_params))
        elif s.model == default.model == "transfer" and "source" not in s.model_params:
            # a transfer strategy's params add to the campaign's: its sources come from the campaign file
            s = replace(s, model_params=_transfer_params(default.model_params, s.model_params))
        if s.acquisition == default.acquisition and not s.acquisition_params:
            s = replace(s, acquisition_params=dict(default.acquisition_params))
        if s.name not in {o.name for o in out}:
            out.append(s)
    if problems:
        raise ConfigError(problems)
    return out


def _no_transfer_strategy(chosen: list[Strategy], strategies: str | None) -> list[Problem]:
    """--transfer-fraction without a transfer strategy: an unknown model kind named first (Transfer for
    transfer), else which strategies were given."""
    from . import plugins

    if strategies is None:
        return [Problem("--transfer-fraction", "needs a transfer model: the campaign's model must be kind: transfer, "
                                               "or give --strategies with one, e.g. transfer:ei:2")]
    unknown = []
    for c in chosen:
        try:
            plugins.resolve("model", c.model)
        except LooplabError as exc:
            unknown.append(Problem("--strategies", f"'{c.name}': {str(exc).replace(IMPORT_HINT, '')}"))
    return unknown or [Problem("--transfer-fraction", f"needs a transfer strategy, and --strategies gives none "
                                                      f"({', '.join(c.name for c in chosen)}); add one, e.g. "
                                                      "transfer:ei:2, or leave out --transfer-fraction")]


def _transfer_params(campaign: dict, own: dict) -> dict:
    """A transfer strategy's params: the campaign's, then its own; the campaign's options for a method the
    strategy does not use are left out (a campaign of method auto with none_prior, benchmarked as
    transfer(method=prior-mean), would otherwise be refused for an option prior-mean does not read)."""
    from .models.transfer.config import option_applies, split_methods

    method = own.get("method", campaign.get("method", "auto"))
    mixes = split_methods(own.get("auto_methods", campaign.get("auto_methods", ("none", "prior-mean", "multi-task"))))
    if not isinstance(mixes, (list, tuple)):  # not methods (auto_methods=5): its own validation says so
        mixes = ("none", "prior-mean", "multi-task")
    kept = {k: v for k, v in campaign.items() if option_applies(k, method, mixes)}
    # base and base_params: the model of latent-variable and of auto's none (base_params also of prior-mean's
    # GP); a campaign's random-forest base would otherwise refuse transfer(method=multi-task) (fuzz round fifteen)
    methods = set(mixes) if method == "auto" else {method}
    if not methods & {"none", "latent-variable"} and "base" not in own:
        kept.pop("base", None)
    if not methods & {"none", "latent-variable", "prior-mean"} and "base_params" not in own:
        kept.pop("base_params", None)
    return {**kept, **own}


def parse_fractions(text: str | None) -> list[float]:
    """'0.01,0.05' -> [0.01, 0.05] (--transfer-fraction); each in (0, 1], each once. None (not given) -> []."""
    from oracles.csvfile import number_hint, strict_float

    if text is None:
        return []
    example = "give fractions of the source rows, e.g. 0.01,0.05,0.1,0.2"
    if not text.strip():
        raise ConfigError([Problem("--transfer-fraction", f"is empty; {example}, or leave the option out")])
    out = []
    for item in text.split(","):
        typed = item.strip()
        if not typed:
            raise ConfigError([Problem("--transfer-fraction", f"'{reveal(text)}' has an empty item (a comma at an "
                                                              f"end, or two in a row); {example}")])
        try:  # float() would take 0.0_5 and ٠.٥, and read 1e-400 as 0
            f = strict_float(typed)
        except ValueError as exc:
            hint = number_hint(typed, exc)
            raise ConfigError([Problem("--transfer-fraction", f"'{reveal(typed)}' is not a number"
                                       + (f" ({hint})" if hint else "") + f"; {example}")]) from None
        if not 0 < f <= 1:
            raise ConfigError([Problem("--transfer-fraction", f"{typed} is not in (0, 1]")])
        if f in out:
            raise ConfigError([Problem("--transfer-fraction", f"{f:g} is given twice; give each fraction once")])
        out.append(f)
    return out


def transfer_strategies(chosen: list[Strategy], fractions: list[float], default: Strategy,
                        permute: bool = False) -> list[Strategy]:
    """--transfer-fraction: the base model without transfer, then each transfer strategy once per
    fraction (all on the same seeds). A transfer strategy's params add to the campaign's (its sources
    come from the campaign). Strategies that are not transfer models stay as they are."""
    out: list[Strategy] = []
    # transfer strategies that differ only in their acquisition or batch size are told apart by it (and so
    # are their baselines without transfer)
    acqs = {(s.acquisition, _fmt_params(s.acquisition_params), s.batch_size) for s in chosen if s.model == "transfer"}
    for s in chosen:
        if s.model != "transfer":
            out.append(s)
            continue
        how = f" {s.acquisition}{_fmt_params(s.acquisition_params)}:{s.batch_size}" if len(acqs) > 1 else ""
        # the label names the params the strategy sets itself (besides the method), so that two strategies
        # of the same method with different params are told apart in the tables
        own = ", ".join(f"{k}={v}" for k, v in s.model_params.items() if k not in ("method", "source"))
        # the model without transfer: the campaign's base (or the strategy's), before options the strategy's
        # method does not read are left out
        given = {**(default.model_params if default.model == "transfer" else {}), **s.model_params}
        if default.model == "transfer":
            s = replace(s, model_params=_transfer_params(default.model_params, s.model_params))
        base, base_params = given.get("base", "gp"), given.get("base_params") or {}
        # a base or base_params that is not one (base=5) is the transfer strategy's error, said once, for it
        base = base if base in ("gp", "random-forest") else "gp"
        plain = Strategy(base, s.acquisition, s.batch_size, dict(base_params) if isinstance(base_params, dict) else {},
                         dict(s.acquisition_params), label=f"{base} (no transfer){how}", baseline=True)
        if plain.name not in {o.name for o in out}:
            out.append(plain)
        method = f"{s.model_params.get('method', 'auto')}" + (f"({own})" if own else "")
        tag = " permuted" if permute else ""
        out += [t for t in (replace(s, transfer_fraction=f, permute_source=permute,
                                    label=f"transfer {method} {f:g}{tag}{how}") for f in fractions)
                if t.name not in {o.name for o in out}]  # transfer:ei:2 and transfer(method=auto):ei:2: one run
    return out


def _split_top_level(text: str, sep: str = ",", *, keep_empty: bool = False) -> list[str]:
    """Split on ``sep`` outside parentheses, so params like ``ucb(beta=4, x=1)`` stay whole."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return items if keep_empty else [s for s in items if s.strip()]


# ----------------------------------------------------------------------------- setup


@dataclass
class Setup:
    """Everything a run needs, validated; picklable for the worker processes."""

    spec_path: str
    spec_data: dict  # the validated campaign (pool and objective already pointing at the dataset)
    base_dir: str
    campaign_name: str
    dataset: str
    inputs: list[str]
    objective: str
    goal: str
    target: float | None
    values_column: str
    values_path: str
    n_pool: int
    values: list[float]
    strategies: list[Strategy]
    seeds: list[int]
    budget: int
    initial: int
    workers: int


def _read_header_and_count(path: Path) -> tuple[list[str], int]:
    """The header and the number of records of a CSV (raises CsvFileError with a one-line message)."""
    from oracles.csvfile import read_table

    header, records = read_table(path)
    return header, len(records)


# the fields of the campaign that a benchmark sets from its options (see _spec_for)
OPTION_OF = {"initial.n": "--initial", "budget.max_experiments": "--budget"}


def _spec_for(setup_data: dict, strategy: Strategy, *, seed: int, budget: int, initial: int) -> dict:
    data = json.loads(json.dumps(setup_data))  # a deep copy of plain data
    data["seed"] = int(seed)
    if not strategy.is_random:
        from .config import ModelSpec

        # keys of the model block besides kind and params (e.g. an output transform) stay as the campaign
        # has them, unless the strategy sets them: gp(transform=copula):ei:1
        block = {k: v for k, v in data.get("model", {}).items() if k not in ("kind", "params")}
        params = dict(strategy.model_params)
        for key in [k for k in params if k in ModelSpec.model_fields and k not in ("kind", "params")]:
            block[key] = params.pop(key)
        data["model"] = {**block, "kind": strategy.model, "params": params}
        data["acquisition"] = {"kind": strategy.acquisition, "params": dict(strategy.acquisition_params),
                               "batch_size": strategy.batch_size}
    data["initial"] = {"n": int(initial), "method": "random"} if int(initial) else {"n": 0}  # 0: no design to draw
    data["budget"] = {"max_experiments": int(budget)}
    return data


def pool_values(space, values_path: str | Path, column: str):
    """The pool without candidates lacking a numeric objective, and the objective of each (aligned)."""
    from oracles.lookup import LookupTable

    table = LookupTable(Path(values_path), tuple(space.names), column, space.where, space.categorical)
    keep, values = [], []
    for i, cand in enumerate(space.candidates):
        j = table.find(cand, nearest=False)
        if j is not None:
            keep.append(i)
            values.append(float(table.values[j]))
    if len(keep) < space.size:
        space = space.subset(keep)
    return space, np.asarray(values, dtype=float)


def build_campaign(spec_data: dict, base_dir: str | Path, source: str | None, values_path: str,
                   values_column: str):
    """The campaign of one run and the objective of each of its pool candidates (aligned)."""
    from .config import campaign_from_spec, parse_spec

    campaign = campaign_from_spec(parse_spec(spec_data, source), Path(base_dir), source)
    campaign.space, values = pool_values(campaign.space, values_path, values_column)
    return campaign, values


MAX_SEEDS = 100_000
MAX_SEED = 2**32 - 1  # a campaign's seed (numpy's seed range)


def prepare(spec_path: str | Path, *, dataset: str | Path | None, seeds: int, budget: int,
            strategies: str | None, initial: int, workers: int, first_seed: int = 0,
            transfer_fraction: str | None = None, permute_source: bool = False) -> Setup:
    """Validate every input; raise ConfigError (one Problem per mistake) when something is wrong."""
    from .config import parse_spec, read_campaign_file

    fractions = parse_fractions(transfer_fraction)
    if permute_source and not fractions:
        raise ConfigError([Problem("--permute-source", "needs --transfer-fraction (e.g. --transfer-fraction 1)")])
    problems: list[Problem] = []
    if seeds < 1:
        problems.append(Problem("--seeds", f"must be at least 1 (got {seeds})"))
    if first_seed < 0:
        problems.append(Problem("--first-seed", f"must be 0 or more (got {first_seed})"))
    if seeds > MAX_SEEDS:
        problems.append(Problem("--seeds", f"{seeds} is more than a benchmark can run ({MAX_SEEDS:,} at most; "
                                           "30-100 give a paired standard error of a point or two)"))
    elif first_seed >= 0 and first_seed + seeds - 1 > MAX_SEED:
        problems.append(Problem("--first-seed", f"seeds {first_seed} to {first_seed + seeds - 1} run past the "
                                                f"largest seed, {MAX_SEED}; give a smaller --first-seed or --seeds"))
    if budget < 1:
        problems.append(Problem("--budget", f"must be at least 1 (got {budget})"))
    if initial < 0:
        problems.append(Problem("--initial", f"must be 0 or more (got {initial})"))
    elif budget >= 1 and initial > budget:
        problems.append(Problem("--initial", f"{initial} initial experiments exceed the budget of {budget}"))
    elif budget >= 1 and initial == budget:
        problems.append(Problem("--initial", f"{initial} initial experiments are the whole budget, so no model would "
                                             "choose one and every strategy would be random search; give --initial "
                                             "below --budget"))
    if workers < 1:
        problems.append(Problem("--workers", f"must be at least 1 (got {workers})"))
    header: list[str] = []
    n_rows = 0
    ds_path: Path | None = None
    if dataset is not None:
        ds_path = Path(os.path.realpath(Path(dataset).expanduser()))
        if not ds_path.exists():
            problems.append(Problem("--dataset", f"file not found: {dataset}"))
        else:  # a folder, a device or a bad CSV is reported by read_table as what it is
            from oracles.csvfile import CsvFileError

            try:
                header, n_rows = _read_header_and_count(ds_path)
            except CsvFileError as exc:
                problems.append(Problem("--dataset", f"cannot read {dataset} as CSV: {exc}"))
            else:
                if len(header) < 2:
                    problems.append(Problem("--dataset", f"{ds_path.name} needs a header with at least one input "
                                                         f"column and the objective as the last column "
                                                         f"(it has a single column)"))
                elif n_rows < MIN_POOL_ROWS:
                    problems.append(Problem("--dataset", f"{ds_path.name} has {n_rows} row(s); a benchmark needs "
                                                         f"at least {MIN_POOL_ROWS}"))
    if problems:
        raise ConfigError(problems)

    data, base_dir = read_campaign_file(spec_path)
    spec = parse_spec(data, str(spec_path))  # the file's own problems, reported as usual
    spec_data = spec.model_dump(mode="json")
    if ds_path is not None:
        # the campaign's row filter (where: {Temp_C: 105}) and categorical declarations carry over to the
        # dataset's columns of the same name; a filter column the dataset lacks is an error, not dropped
        pool = spec_data["space"].get("pool") or {}
        where = pool.get("where") or {}
        missing = [c for c in where if c not in header[:-1]]
        if missing:
            raise ConfigError([Problem("--dataset", f"{ds_path.name} has no column {', '.join(map(repr, missing))}, "
                                                    f"which the campaign's space.pool.where filters on (its "
                                                    f"columns: {', '.join(header)}); give a dataset with it, or "
                                                    "benchmark a campaign without that filter")])
        inputs = [c for c in header[:-1] if c not in where]
        declared = pool.get("categorical") or []
        spec_data["space"] = {"pool": {"path": str(ds_path), "inputs": inputs,
                                       "categorical": [c for c in declared if c in inputs],
                                       **({"where": where} if where else {})}}
        spec_data["objective"]["name"] = header[-1]
        spec_data["oracle"] = {"kind": "lookup", "params": {}}
    elif spec.space.pool is None:
        raise ConfigError([Problem("--dataset", f"required: the space of {spec_path} is not a pool, so give "
                                                "a CSV of candidates")])
    else:
        if spec.oracle.kind != "lookup":
            raise ConfigError([Problem("oracle.kind", f"the benchmark looks results up in a dataset, so it needs "
                                                      f"kind: lookup (got '{spec.oracle.kind}'); or give --dataset")],
                              str(spec_path))
        spec_data["oracle"]["params"].pop("noise", None)  # the benchmark measures without noise
        inputs = list(spec.space.pool.inputs)
    # the campaign's own strategy is named with its params (gp:ucb(beta=0.3):1), so the table says what ran
    default = Strategy(spec.model.kind, spec.acquisition.kind, spec.acquisition.batch_size,
                       dict(spec.model.params), dict(spec.acquisition.params))
    if strategies is not None and not _split_top_level(strategies):
        raise ConfigError([Problem("--strategies", f"'{strategies}' names no strategy; give e.g. gp:ei:1,"
                                                   "random-forest:ucb:2, or leave the option out for the campaign's")])
    chosen = parse_strategies(strategies, default)
    if not chosen:
        raise ConfigError([Problem("--strategies", f"'{strategies}' names only random search, which every benchmark "
                                                   "runs anyway; add a model strategy, e.g. gp:ei:1")])
    if fractions:
        if not any(c.model == "transfer" for c in chosen):
            raise ConfigError(_no_transfer_strategy(chosen, strategies))
        chosen = transfer_strategies(chosen, fractions, default, permute_source)
    stored = [Problem(f"model.params.source[{i}].campaign", f"a benchmark runs without a store, so it cannot read "
                                                           f"the campaign '{src['campaign']}'; write its results to a "
                                                           "CSV (looplab export NAME -f csv -o FILE) and give the source "
                                                           "as {path: FILE, objective: NAME}")
              for i, src in enumerate(spec_data["model"]["params"].get("source") or [])
              if spec.model.kind == "transfer" and isinstance(src, dict) and "campaign" in src and "path" not in src]
    if stored and any(c.model == "transfer" for c in chosen):
        raise ConfigError(stored, str(spec_path))

    # every strategy's campaign: problems of the file itself (pool, objective column, oracle) are
    # reported once and name the file; a strategy's unknown kinds or bad params name the strategy
    from .config import campaign_from_spec
    from .space import build_space

    too_big = [s for s in chosen if s.batch_size > budget]
    if too_big:
        raise ConfigError([Problem("--strategies" if strategies is not None else "--budget",
                                   f"'{s.name}': its batch of {s.batch_size} exceeds the budget of {budget}; lower "
                                   "the batch size or raise --budget") for s in too_big])
    file_problems: list[Problem] = []
    dataset_problems: list[Problem] = []
    strategy_problems: list[Problem] = []
    baseline_problems: list[Problem] = []  # of a model without transfer: said only when no strategy written has any
    base: dict | None = None
    for s in chosen:
        data_s = _spec_for(spec_data, s, seed=spec.seed, budget=max(budget, initial), initial=initial)
        try:
            campaign_from_spec(parse_spec(data_s, str(spec_path)), base_dir, str(spec_path))
        except ConfigError as exc:
            for prob in exc.problems:
                if prob.path in OPTION_OF:  # set from the command line, not the file: name the option
                    message = prob.message
                    for field, option in OPTION_OF.items():
                        message = message.replace(field, option)
                    prob = Problem(OPTION_OF[prob.path], message)
                    if prob not in strategy_problems:
                        strategy_problems.append(prob)
                elif strategies is not None and prob.path.startswith(("model.", "acquisition.")):
                    text = str(prob).replace(IMPORT_HINT, "")
                    key = prob.path.rsplit(".", 1)[-1]
                    if prob.message.startswith("must be a list"):  # the YAML list form cannot be written here
                        text += f"; in --strategies join a list's items by '+', e.g. {key}={LIST_EXAMPLES.get(key, 'a+b')}"
                    elif prob.message == "required field is missing" and prob.path.startswith("model.params."):
                        # a strategy's model params are its own: the campaign file's are not read
                        text += (f"; a strategy does not take the campaign file's model params: give it in the "
                                 f"strategy, e.g. {s.model}({key}=...)")
                    (baseline_problems if s.baseline else strategy_problems).append(
                        Problem("--strategies", f"'{s.name}': {text}"))
                elif ds_path is not None and prob.path.startswith(("space.pool", "oracle.params", "objective")):
                    # the pool, its objective column and the lookup are --dataset's, not the file's
                    message = prob.message.replace("is it the right column?", "with --dataset the objective is "
                                                   "its last column")
                    if Problem("--dataset", message) not in dataset_problems:
                        dataset_problems.append(Problem("--dataset", message))
                else:
                    if ds_path is not None and prob.path.startswith("model.params.source"):
                        # a source lacks an input that --dataset, not the file, made one (fuzz round fifteen)
                        prob = Problem(prob.path, prob.message.replace(
                            "of the campaign's inputs", f"of the inputs (with --dataset, the columns of "
                                                        f"{ds_path.name} but its last)"))
                    if prob not in file_problems:
                        file_problems.append(prob)
            continue
        base = base or data_s
    if dataset_problems:
        raise ConfigError(dataset_problems)
    if file_problems:
        raise ConfigError(file_problems, str(spec_path))
    space = build_space(parse_spec(base or data_s, str(spec_path)).space, base_dir)

    # the lookup oracle's own file and column when it names them, else the pool's file and the objective
    oracle_params = spec_data["oracle"].get("params") or {}
    values_path = Path(os.path.realpath(Path(base_dir) / oracle_params["path"])) if oracle_params.get("path") else space.path
    column = oracle_params.get("column") or spec_data["objective"]["name"]
    try:
        space, values = pool_values(space, values_path, column)
    except (KeyError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("--dataset" if ds_path else "oracle.params", f"cannot read the objective "
                                   f"'{column}' from {values_path}: {exc}")]) from None
    n_pool = space.size
    if len(values) < MIN_POOL_ROWS:
        where = "--dataset" if ds_path else "space.pool.path"
        raise ConfigError([Problem(where, f"{Path(values_path).name} has {len(values)} candidate(s) with a numeric "
                                          f"'{column}'; a benchmark needs at least {MIN_POOL_ROWS}")])
    problems = strategy_problems or baseline_problems
    if budget > n_pool:
        problems.insert(0, Problem("--budget", f"{budget} exceeds the pool size ({n_pool} candidates); "
                                               f"use at most {n_pool}"))
    if problems:
        raise ConfigError(problems)

    return Setup(spec_path=str(spec_path), spec_data=spec_data, base_dir=str(base_dir), campaign_name=spec.name,
                 dataset=str(space.path), inputs=inputs, objective=spec_data["objective"]["name"],
                 goal=spec.objective.goal, target=spec.objective.target_value, values_column=column,
                 values_path=str(values_path), n_pool=n_pool, values=[float(v) for v in values],
                 strategies=chosen, seeds=list(range(first_seed, first_seed + seeds)), budget=budget,
                 initial=initial, workers=workers)


# ----------------------------------------------------------------------------- one run


def run_job(setup: Setup, strategy: Strategy, seed: int) -> dict[str, Any]:
    """One seeded run, in memory: the pool rows it measured in order, and its timings."""
    from .proposer import Proposer, step_rng

    t0 = time.perf_counter()
    data = _spec_for(setup.spec_data, strategy if not strategy.is_random else setup.strategies[0],
                     seed=seed, budget=setup.budget, initial=setup.initial)
    campaign, values = build_campaign(data, setup.base_dir, setup.spec_path, setup.values_path,
                                      setup.values_column)
    space = campaign.space
    proposer = Proposer(campaign)
    flat = 0  # drawn sources with one value in every row: a campaign refuses such a source (fuzz round nineteen)
    if strategy.transfer_fraction is not None:
        known = _known_sources(setup, proposer, strategy, seed)
        flat = sum(1 for src in known if np.ptp(np.asarray(src.y, dtype=float)) == 0)
        proposer = Proposer(campaign, sources=known)
    # --initial 0: no initial design; the model proposes the first batch if it can predict without
    # observations (transfer from sources), else the proposer draws it at random
    picks = [space.index_of(p) for p in proposer.initial_design(step_rng(seed, 0))] if setup.initial else []
    fit_s, fallbacks, warm = 0.0, 0, None
    step = 1
    while len(picks) < setup.budget:
        rng = step_rng(seed, step)
        used = [space.candidates[i] for i in picks]
        if strategy.is_random:
            params = proposer.random(1, rng, used)
        else:
            n = min(strategy.batch_size, setup.budget - len(picks))
            prop = proposer.propose(observed=used, values=values[picks], busy=[], used=used, n=n, step=step,
                                    rng=rng, warm_state=warm)
            params = prop.params
            fit_s += prop.fit_seconds
            if prop.fitted:
                fallbacks += int(bool(prop.fit_info.get("fallback")))
                if hasattr(prop.model, "get_state"):
                    warm = prop.model.get_state()
        new = [space.index_of(p) for p in params]
        if not new:
            break  # the pool is exhausted
        picks += new
        step += 1
    return {"seed": seed, "picks": [int(i) for i in picks[: setup.budget]],
            "wall_seconds": time.perf_counter() - t0, "fit_seconds": fit_s, "fit_fallbacks": fallbacks,
            "flat_sources": flat}


_SOURCES: dict[str, Any] = {}  # every source row, read once per process and strategy
# the key of a seed's source draw; tests/benchmarks/baybe_transfer.py repeats it (and the draw, in pandas),
# and tests/benchmarks/arylation_source_draws.json pins what both draw
SOURCE_DRAW_KEY = 271828


def source_draw(sources: Any, fraction: float, seed: int) -> Any:
    """``fraction`` of each source's rows, as seed ``seed`` of ``--transfer-fraction`` knows them."""
    from .models.transfer import subsample

    return subsample(sources, fraction, np.random.default_rng([seed, SOURCE_DRAW_KEY]))


def _known_sources(setup: Setup, proposer: Any, strategy: Strategy, seed: int) -> Any:
    """The source rows one seed knows: ``transfer_fraction`` of each source's rows, drawn with the
    seed's own generator (the same draw for every strategy and fraction order)."""
    from .models.transfer import SourceData

    key = json.dumps(strategy.model_params, sort_keys=True, default=str)
    if key not in _SOURCES:
        _SOURCES[key] = proposer.sources
    known = source_draw(_SOURCES[key], strategy.transfer_fraction, seed)
    if strategy.permute_source:
        rng = np.random.default_rng([seed, 314159])
        known = tuple(SourceData.make(s.name, s.X, rng.permutation(s.y)) for s in known)
    return known


def warm_up(setup: Setup) -> None:
    """Import each strategy's model stack and fit it once on a few pool rows, untimed.

    The first fit in a process pays one-off costs (importing TensorFlow, tracing the
    GP's loss for this input dimension) that would otherwise land in one seed's wall time.
    """
    from .proposer import Proposer

    for s in setup.strategies:
        try:
            data = _spec_for(setup.spec_data, s, seed=0, budget=setup.budget, initial=setup.initial)
            campaign, values = build_campaign(data, setup.base_dir, setup.spec_path, setup.values_path,
                                              setup.values_column)
            proposer = Proposer(campaign)
            if s.transfer_fraction is not None:  # the sources of seed 0's draw, not every row
                proposer = Proposer(campaign, sources=_known_sources(setup, proposer, s, setup.seeds[0]))
            k = min(len(values), 5)
            proposer.build_model(0).fit(campaign.space.X[:k], proposer.internal(values[:k]))
        except Exception as exc:  # noqa: BLE001 - a warm-up only; the real run reports real problems
            log.debug("warm-up of %s failed: %s", s.name, exc)


def _worker_init(setup: Setup) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business: it stops the workers
    warm_up(setup)


def _worker_job(args: tuple[Setup, int, int]) -> tuple[int, int, dict[str, Any]]:
    setup, k, seed = args
    strategy = RANDOM_STRATEGY if k < 0 else setup.strategies[k]
    return k, seed, run_job(setup, strategy, seed)


# ----------------------------------------------------------------------------- the whole benchmark


def run_benchmark(setup: Setup, on_done: Callable[[Strategy, int], None] | None = None) -> dict[str, Any]:
    """Every (strategy, seed) run, then metrics and summaries; returns the benchmark.json content."""
    from . import __version__

    t0 = time.perf_counter()
    jobs = [(k, seed) for k in range(len(setup.strategies)) for seed in setup.seeds]
    results: dict[tuple[int, int], dict] = {}

    # random search is cheap: run it here
    for seed in setup.seeds:
        results[(-1, seed)] = run_job(setup, RANDOM_STRATEGY, seed)
        if on_done:
            on_done(RANDOM_STRATEGY, seed)

    if setup.workers == 1 or len(jobs) == 1:
        warm_up(setup)
        for k, seed in jobs:
            results[(k, seed)] = run_job(setup, setup.strategies[k], seed)
            if on_done:
                on_done(setup.strategies[k], seed)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        # each worker gets its share of the cores for BLAS/TensorFlow threads
        share = str(max(1, (os.cpu_count() or 1) // setup.workers))
        thread_vars = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                       "TF_NUM_INTEROP_THREADS")
        saved = {v: os.environ.get(v) for v in thread_vars}
        for v in thread_vars:
            os.environ.setdefault(v, share)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        pool = ProcessPoolExecutor(max_workers=min(setup.workers, len(jobs)), mp_context=ctx,
                                   initializer=_worker_init, initargs=(setup,))
        finished = False
        try:
            futures = [pool.submit(_worker_job, (setup, k, seed)) for k, seed in jobs]
            for fut in as_completed(futures):
                try:
                    k, seed, res = fut.result()
                except BrokenProcessPool as exc:
                    raise BenchmarkError(f"a worker process died ({exc}); if you call this from your own script, "
                                         "guard it with if __name__ == '__main__':, or use --workers 1") from None
                results[(k, seed)] = res
                if on_done:
                    on_done(setup.strategies[k], seed)
            finished = True
        finally:
            if not finished:  # interrupted or failed: stop the workers now rather than after their runs
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
            pool.shutdown(wait=finished, cancel_futures=not finished)
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old

    values = np.asarray(setup.values)
    top = top_set(values, setup.goal, setup.target)
    scores = goal_scores(values, setup.goal, setup.target)
    best_row = int(np.argmax(scores))
    strategies_out = []
    for k, s in [*enumerate(setup.strategies), (-1, RANDOM_STRATEGY)]:
        runs = []
        for seed in setup.seeds:
            r = results[(k, seed)]
            m = run_metrics(r["picks"], values, setup.goal, setup.target)
            runs.append({"seed": seed, "picks": r["picks"], "values": [float(values[i]) for i in r["picks"]],
                         **m, "wall_seconds": r["wall_seconds"], "fit_seconds": r["fit_seconds"],
                         "fit_fallbacks": r["fit_fallbacks"], "flat_sources": r.get("flat_sources", 0)})
        strategies_out.append({**s.as_dict(), "runs": runs, "summary": summarize(runs)})
    n = setup.n_pool
    return {
        "looplab_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "spec": setup.spec_path,
        "campaign": setup.campaign_name,
        "dataset": setup.dataset,
        "inputs": setup.inputs,
        "objective": setup.objective,
        "goal": setup.goal,
        "target_value": setup.target,
        "n_pool": n,
        "top_set_size": len(top),
        "top_set": [int(i) for i in top],
        "best_value": float(values[best_row]),
        "best_row": best_row,
        "budget": setup.budget,
        "seeds": setup.seeds,
        "initial": setup.initial,
        "initial_method": "random",
        "workers": setup.workers,
        "thresholds": list(THRESHOLDS),
        "random_af_experiments": {_tkey(t): random_experiments_needed(t, n) for t in THRESHOLDS},
        "experiments": list(range(1, setup.budget + 1)),
        "random_top_fraction": [i / n for i in range(1, setup.budget + 1)],
        "wall_seconds": time.perf_counter() - t0,
        "strategies": strategies_out,
    }


# ----------------------------------------------------------------------------- outputs


def seeds_text(seeds: Sequence[int]) -> str:
    """'100 seeds' for seeds 0..99; '100 seeds (100-199)' for fresh ones (--first-seed)."""
    seeds = list(seeds)
    if not seeds or seeds == list(range(len(seeds))):
        return f"{len(seeds)} seeds"
    return f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})"


def checkpoints(budget: int) -> list[int]:
    """Experiment counts the summary table reports: 25 and 50, or the budget when smaller."""
    return sorted({min(25, budget), min(50, budget)})


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_table(result: dict[str, Any]):
    """One column per strategy (random search last), one row per measure: median [mean] over seeds."""
    from rich.table import Table
    from rich.text import Text

    cps = checkpoints(result["budget"])
    n_seeds = len(result["seeds"])
    table = Table(title=Text(f"benchmark {result['campaign']} on {Path(result['dataset']).name}: "
                             f"N={result['n_pool']}, top set {result['top_set_size']}, {result['goal']} "
                             f"{result['objective']}, {seeds_text(result['seeds'])}, budget {result['budget']}"),
                  caption=Text("median [mean] over seeds; AF and 'to best' over the n/seeds runs that got there"),
                  title_justify="left", caption_justify="left")
    table.add_column("measure", no_wrap=True)
    for s in result["strategies"]:
        table.add_column(s["name"], justify="right", overflow="fold")
    rows: list[tuple[str, list[str]]] = []
    for key, label in (("top_fraction", "Top%"), ("ef", "EF")):
        for c in cps:
            rows.append((f"{label} @{c}", [f"{s['summary'][key]['median'][c - 1]:.2f} "
                                           f"[{s['summary'][key]['mean'][c - 1]:.2f}]" for s in result["strategies"]]))
    for t in THRESHOLDS:
        cells = []
        for s in result["strategies"]:
            a = s["summary"]["af"][_tkey(t)]
            cells.append(f"{_fmt(a['median'])} [{_fmt(a['mean'])}] {a['n']}/{a['n_seeds']}")
        rows.append((f"AF({t:g})", cells))
    rows.append(("experiments to best", [f"{_fmt(s['summary']['experiments_to_best']['median'], 0)} "
                                         f"{s['summary']['experiments_to_best']['n']}/{n_seeds}"
                                         for s in result["strategies"]]))
    rows.append(("wall s/seed", [f"{s['summary']['wall_seconds']['median']:.1f}" for s in result["strategies"]]))
    for label, cells in rows:
        table.add_row(label, *cells)
    return table


BANDS_UP_TO = 4  # strategies drawn with their 5-95% band; above it, medians only


PNG_MARK = "looplab benchmark"  # the plots' Software text: an existing PNG without it is not replaced
PLOT_NAMES = ("top_fraction.png", "ef.png", "best_so_far.png")


def _only_ours(out_dir: Path) -> None:
    """ConfigError (naming --out) unless every file the benchmark would replace in ``out_dir`` is an earlier
    benchmark's: a benchmark.json holding looplab_version (then the folder is one), or plots marked PNG_MARK.
    A folder of the user's with a benchmark.json or an ef.png of their own lost them without a word."""
    from .report import file_head

    results = out_dir / "benchmark.json"
    if results.is_file():
        if b'"looplab_version"' in file_head(results):
            return
        raise ConfigError([Problem("--out", f"'{results}' exists and is not a looplab benchmark's; writing would "
                                            "replace it: choose another folder, or remove the file first")])
    for name in PLOT_NAMES:
        png = out_dir / name
        if png.is_file() and PNG_MARK.encode() not in file_head(png):
            raise ConfigError([Problem("--out", f"'{png}' exists and was not drawn by a looplab benchmark; writing "
                                                "would replace it: choose another folder, or remove the file first")])


def write_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from .report import headless_matplotlib

    headless_matplotlib()  # an $MPLBACKEND naming no backend: the plots are files, Agg draws them
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    i = np.asarray(result["experiments"])
    n = result["n_pool"]
    name = Path(result["dataset"]).name
    k = len(result["strategies"])
    bands = k <= BANDS_UP_TO  # with more strategies the bands would cover each other: medians only
    subtitle = (f"{result['campaign']} on {name}: N={n}, top set {result['top_set_size']}, "
                f"{seeds_text(result['seeds'])}; median" + (" and 5-95% band" if bands else ""))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if k > len(colors):  # every strategy its own colour
        colors = [plt.get_cmap("tab20")(j % 20) for j in range(k)]
    outside = k > 6  # a long legend goes beside the axes, not over the curves
    paths = []

    def draw(key: str, ylabel: str, fname: str, extra: Callable[[Any], None]) -> None:
        fig, ax = plt.subplots(figsize=(10.5 if outside else 7.5, 4.8), dpi=110)
        for j, s in enumerate(result["strategies"]):
            st = s["summary"][key]
            color = "0.45" if s["name"] == RANDOM else colors[j % len(colors)]
            label = "random search" if s["name"] == RANDOM else s["name"]
            ax.plot(i, st["median"], color=color, lw=2, label=label)
            if bands:
                ax.fill_between(i, st["p5"], st["p95"], color=color, alpha=0.18, lw=0)
        extra(ax)
        ax.set_xlabel("experiments")
        ax.set_ylabel(ylabel)
        ax.set_xlim(1, i[-1])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(subtitle, fontsize=9)
        ax.grid(alpha=0.3)
        if outside:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        else:
            ax.legend(loc="best", fontsize=9)
        fig.tight_layout()
        path = out_dir / fname
        tmp = path.with_name(f".{fname}.tmp")
        try:  # whole or not at all, as the report's plots: a full disk left a truncated PNG
            fig.savefig(tmp, format="png", metadata={"Software": PNG_MARK})
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            plt.close(fig)
        paths.append(path)

    def random_line(ax) -> None:
        ax.plot(i, np.asarray(result["random_top_fraction"]), "k--", lw=1.2, label="random, expected (i/N)")
        ax.set_ylim(-0.02, 1.02)

    def ef_line(ax) -> None:
        ax.axhline(1.0, color="k", ls="--", lw=1.2, label="random, expected (EF = 1)")
        ax.set_ylim(bottom=0)

    def best_line(ax) -> None:
        ax.axhline(result["best_value"], color="k", ls=":", lw=1.2, label=f"pool best ({result['best_value']:.4g})")

    draw("top_fraction", f"Top%: share of the top {result['top_set_size']} found", "top_fraction.png", random_line)
    draw("ef", "enhancement factor  Top% / (i/N)", "ef.png", ef_line)
    draw("best_so_far", f"best {result['objective']} so far ({result['goal']})", "best_so_far.png", best_line)
    return paths


def default_out_dir(setup: Setup) -> Path:
    return Path("runs") / "benchmark" / f"{setup.campaign_name}-{Path(setup.dataset).stem}"


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def transfer_table(result: dict[str, Any], reach: float | None = None, at: Sequence[int] = (10, 20)):
    """--transfer-fraction: per strategy, the mean best value after ``at`` experiments (with its SE),
    and the experiments until the best reached ``reach`` (default: the pool's top-1% value): median and
    5-95% band over the seeds that got there, and how many did."""
    from rich.table import Table
    from rich.text import Text

    goal, target = result["goal"], result["target_value"]
    values = np.asarray(result.get("pool_values") or [], dtype=float)
    if reach is None and len(values):
        scores = np.sort(goal_scores(values, goal, target))[::-1]
        k = max(1, math.ceil(0.01 * len(values)))
        reach_score = float(scores[k - 1])
        what = f"the pool's top 1% ({k} best)"
    else:
        reach_score = float(goal_scores([reach], goal, target)[0]) if reach is not None else math.inf
        # goal target: a result as close to the target as the value given
        what = f"{reach:g}" if goal != "target" or reach is None else \
            f"{reach:g}: within {abs(reach - target):g} of the target {target:g}"
    at = [a for a in at if a <= result["budget"]]
    table = Table(title=Text(f"transfer: {result['campaign']}, {seeds_text(result['seeds'])}; best value "
                             f"mean ± SE; experiments to reach {what}"), title_justify="left")
    table.add_column("strategy", no_wrap=True)
    for a in at:
        table.add_column(f"best @{a}", justify="right")
    table.add_column("to reach: median [p5-p95]", justify="right")
    table.add_column("reached", justify="right")
    for s in result["strategies"]:
        runs = s["runs"]
        cells = []
        for a in at:
            best = np.array([r["best_so_far"][a - 1] for r in runs], dtype=float)
            se = best.std(ddof=1) / math.sqrt(len(best)) if len(best) > 1 else 0.0
            cells.append(f"{best.mean():.2f} ± {se:.2f}")
        to = []
        for r in runs:
            sc = goal_scores(r["best_so_far"], goal, target)
            hit = np.nonzero(sc >= reach_score - 1e-12)[0]
            to.append(int(hit[0]) + 1 if len(hit) else None)
        got = [t for t in to if t is not None]
        band = (f"{np.median(got):.0f} [{np.percentile(got, 5):.0f}-{np.percentile(got, 95):.0f}]" if got else "-")
        table.add_row(s["name"], *cells, band, f"{len(got)}/{len(runs)}")
    return table


def run_command(spec: Path, *, dataset: Path | None, seeds: int, budget: int, strategies: str | None,
                out: Path | None, workers: int, initial: int, console, first_seed: int = 0,
                transfer_fraction: str | None = None, reach: float | None = None,
                permute_source: bool = False) -> dict[str, Any]:
    """``looplab benchmark``: validate, run with a progress bar, write JSON and plots, print the table."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    if reach is not None and not math.isfinite(reach):
        raise ConfigError([Problem("--reach", f"must be a finite number, a value of the objective (got {reach})")])
    if reach is not None and transfer_fraction is None:
        raise ConfigError([Problem("--reach", "is reported with --transfer-fraction only; add it (e.g. "
                                              "--transfer-fraction 1) or drop --reach")])
    setup = prepare(spec, dataset=dataset, seeds=seeds, budget=budget, strategies=strategies, initial=initial,
                    workers=workers, first_seed=first_seed, transfer_fraction=transfer_fraction,
                    permute_source=permute_source)
    if reach is not None:  # the pool's values are known: a value no candidate reaches, or every one does, is a slip
        scores = goal_scores(setup.values, setup.goal, setup.target)
        wanted = float(goal_scores([reach], setup.goal, setup.target)[0])
        best = setup.values[int(np.argmax(scores))]
        if wanted > scores.max() + 1e-12 * abs(wanted):
            raise ConfigError([Problem("--reach", f"no candidate of the pool reaches {reach:g} (its best is {best:g}, "
                                                  f"goal {setup.goal}); give a value the pool reaches")])
        if wanted <= scores.min():
            worst = setup.values[int(np.argmin(scores))]
            raise ConfigError([Problem("--reach", f"every candidate of the pool reaches {reach:g} (its worst is "
                                                  f"{worst:g}, goal {setup.goal}), so the first experiment does; give "
                                                  "a value only good candidates reach")])
    out_dir = Path(out) if out is not None else default_out_dir(setup)
    _only_ours(out_dir)  # before any seed runs
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError([Problem("--out", f"cannot create {out_dir}: {exc}")]) from None
    names = ", ".join(s.name for s in setup.strategies)
    console.print(f"benchmark '{setup.campaign_name}' on {setup.dataset} ({setup.n_pool} candidates, "
                  f"{setup.goal} {setup.objective}): {names} and random search; {seeds_text(setup.seeds)}, "
                  f"budget {setup.budget}, {setup.initial} random initial, {setup.workers} worker(s)", soft_wrap=True)
    progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        tasks = {s.name: progress.add_task(s.name, total=len(setup.seeds))
                 for s in [*setup.strategies, RANDOM_STRATEGY]}
        result = run_benchmark(setup, on_done=lambda s, seed: progress.advance(tasks[s.name]))
    path = out_dir / "benchmark.json"
    path.write_text(json.dumps(_json_safe(result), indent=1))
    plots = write_plots(result, out_dir)
    console.print(summary_table(result))
    if transfer_fraction:
        console.print(transfer_table({**result, "pool_values": setup.values}, reach))
        for s in result["strategies"]:
            flat = sum(1 for r in s["runs"] if r.get("flat_sources"))
            if flat:
                console.print(f"note {s['name']}: in {flat} of {len(s['runs'])} seeds a drawn source has one value in all its "
                      "rows (a campaign refuses such a source: it tells the model nothing); those runs learned "
                      "nothing from it: draw a larger fraction, or give a source whose objective varies more", soft_wrap=True)
    console.print(f"random search needs on average {result['random_af_experiments']['0.5']} experiments for "
                  f"Top% 0.5 and {result['random_af_experiments']['0.8']} for 0.8 (N={setup.n_pool}); "
                  f"total wall time {result['wall_seconds']:.1f} s", soft_wrap=True)
    console.print(f"wrote {path} and {', '.join(p.name for p in plots)}", soft_wrap=True)
    return result
