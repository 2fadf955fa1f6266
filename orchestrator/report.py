"""``looplab report``: PNG plots and one self-contained HTML page describing a campaign.

Everything comes from the store (the single source of truth): the campaign's
stored spec, its experiments with their timestamps, the model snapshots and
the step timings. The model sections rebuild the campaign from the stored spec
(``parse_spec`` + ``campaign_from_spec``), fit the campaign's model kind on the
succeeded experiments warm-started from the latest snapshot, exactly as the
engine's next step would, and then

- compute leave-one-out predictions for a parity plot. For a GP with its
  hyperparameters held fixed, LOO has a closed form (Rasmussen & Williams
  2006, eq. 5.12): with K the noisy kernel matrix and z the standardised
  targets, ``mean_i = z_i - [K^-1 z]_i / [K^-1]_ii`` and
  ``var_i = 1 / [K^-1]_ii`` (the predictive variance of a measurement, noise
  included). Other models are refitted once per left-out point (or per fold,
  for more than 60 points);
- draw the model's mean, uncertainty and acquisition over the search space
  when it is small enough to draw (1 or 2 continuous inputs, a pool with 2
  numeric inputs, or a pool of 3-component compositions on a ternary plot).
  The acquisition is the one the engine's next step computes: experiments in
  flight and failed ones enter as fantasy observations (kriging believer).

The model works in the maximisation convention (:meth:`Proposer.internal`),
after the campaign's output transform (:meth:`Proposer.warp`), as the engine
fits it. Every plot converts back to the raw objective, except for ``goal:
target`` with a non-target acquisition, whose internal value ``-|y - target|``
cannot be inverted, and for a ``model.transform`` (copula, log, yeo-johnson),
which is fitted to the data; those are shown on the model's scale and say so.

The report is read-only: it never builds the oracle, so nothing is submitted
(and an oracle plugin that is not installed where the report runs is no obstacle).
A section that cannot be drawn says why on the page instead of failing the report.
Matplotlib is used through its object-oriented API (no pyplot, no global
backend), and TensorFlow is only imported when a GP is fitted.
"""

from __future__ import annotations

import os
import base64
import errno
import html
import math
import re
import statistics
import textwrap
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError, LooplabError
from .models.gp.posterior import loo_closed_form  # numpy/scipy only: TensorFlow is not imported by this
from .store import PENDING, STATUSES, UNCOUNTED, Experiment, Store

# colour-blind-safe (Okabe-Ito) colours, one per experiment status
STATUS_COLOURS = {
    "awaiting_approval": "#F0E442",
    "proposed": "#999999",
    "submitted": "#56B4E9",
    "running": "#0072B2",
    "succeeded": "#009E73",
    "failed": "#D55E00",
    "timed_out": "#E69F00",
    "cancelled": "#CC79A7",
    "rejected": "#000000",
}
SOURCE_COLOURS = {"initial": "#999999", "model": "#0072B2", "random": "#CC79A7", "retry": "#E69F00"}
PNG_NAMES = ("best_so_far.png", "timeline.png", "timings.png", "parity.png", "model.png")
OPTIONAL_PNG_NAMES = ("constants.png",  # only for models that learn physical constants
                      "slices.png", "relevance.png")  # spaces the model is not drawn over (3+ inputs, categorical)
MAX_LOO_REFITS = 60
TOP_N = 10
DPI = 110


class ReportError(LooplabError):
    """The report cannot be written (e.g. the output folder is not writable)."""


# ----------------------------------------------------------------------------- objective conventions


@dataclass(frozen=True)
class Objective:
    """The campaign's objective as stored: name, goal and target value."""

    name: str
    goal: str  # max | min | target
    target: float | None = None
    unit: str | None = None  # objective.unit, shown on axes and table headers

    @classmethod
    def from_spec(cls, spec: dict) -> "Objective":
        o = spec.get("objective", {}) if isinstance(spec, dict) else {}
        return cls(str(o.get("name", "objective")), str(o.get("goal", "max")), o.get("target_value"), o.get("unit"))

    @property
    def with_unit(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def score(self, raw: float) -> float:
        """Higher is better, for any goal (as Proposer.score)."""
        if self.goal == "max":
            return raw
        if self.goal == "min":
            return -raw
        return -abs(raw - float(self.target))

    def describe(self) -> str:
        if self.goal == "target":
            return f"bring {self.name} to {self.target:g}"
        return f"{'maximise' if self.goal == 'max' else 'minimise'} {self.name}"


def best_experiment(exps: Sequence[Experiment], objective: Objective) -> Experiment | None:
    """The best succeeded experiment; ties go to the earlier one (as the engine's summary)."""
    done = [e for e in exps if e.status == "succeeded" and e.value is not None]
    return max(done, key=lambda e: (objective.score(e.value), -e.seq)) if done else None


def ranked(exps: Sequence[Experiment], objective: Objective) -> list[Experiment]:
    done = [e for e in exps if e.status == "succeeded" and e.value is not None]
    return sorted(done, key=lambda e: (-objective.score(e.value), e.seq))


def best_so_far(values: Sequence[float | None], objective: Objective) -> list[float | None]:
    """Running best raw value over a sequence (None = no value; stays None until the first value)."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and (best is None or objective.score(v) > objective.score(best)):
            best = v
        out.append(best)
    return out


class Display:
    """Converts the model's internal (maximised) values back to what the page shows."""

    def __init__(self, objective: Objective, raw_acquisition: bool, transform: str = "none"):
        self.objective = objective
        # the engine fits the model on warp(internal(raw)) (Proposer.warp); a raw acquisition skips the warp
        self.transform = "none" if raw_acquisition else transform
        name = objective.name
        if self.transform != "none":
            inner = {"max": name, "min": f"−{name}"}.get(objective.goal) or f"−|{name} − {objective.target:g}|"
            self.sign, self.invertible, self.label = 1.0, False, f"{self.transform}({inner})"
            return
        self.sign = -1.0 if (objective.goal == "min" and not raw_acquisition) else 1.0
        self.invertible = raw_acquisition or objective.goal in ("max", "min")
        self.label = name if self.invertible else f"−|{name} − {objective.target:g}|"

    def mean(self, internal: np.ndarray) -> np.ndarray:
        return self.sign * np.asarray(internal, dtype=float)

    def note(self) -> str:
        if self.invertible:
            return ""
        if self.transform != "none":
            return (f"This campaign's model is fitted on {self.label} (model.transform: {self.transform}), as its "
                    "engine fits it; the transform is fitted to the measured values, so model plots show that "
                    "scale (higher is better) rather than the measured value.")
        return (f"The model of a target campaign is fitted on −|{self.objective.name} − target|, which cannot be "
                "converted back to the measured value; model plots show that quantity (higher is better).")


# ----------------------------------------------------------------------------- leave-one-out


@dataclass
class LOO:
    mean: np.ndarray  # internal units
    var: np.ndarray
    method: str
    includes_noise: bool


def model_loo(model: Any, X: np.ndarray, y: np.ndarray, make_model: Callable[[], Any]) -> LOO:
    """Leave-one-out (or k-fold) predictions of ``model`` fitted on (X, y), in y's units.

    A model with a closed form (the exact GP's ``loo()``; with the rank mixture,
    the mixture of both components' leave-one-out predictions) gets it; any other
    model is refitted by ``make_model().fit`` once per left-out point (N <= 60)
    or per fold of 10-fold cross-validation.
    """
    closed = model.loo() if callable(getattr(model, "loo", None)) else None  # None for the sparse GP
    if closed is not None and len(closed[0]) == len(y):
        m, v = closed
        what = "exact leave-one-out (closed form, hyperparameters fixed at the fit on all points"
        if getattr(model, "rank_weight", None) is not None:
            what += f"; the mixture with the GP on ranked inputs, weight {model.rank_weight:.2f}"
        return LOO(m, v, what + ")", True)
    n = len(y)
    if n <= MAX_LOO_REFITS:
        folds = [np.array([i]) for i in range(n)]
        method = f"leave-one-out by {n} refits"
    else:
        folds = [np.arange(k, n, 10) for k in range(10)]
        method = "10-fold cross-validation (10 refits; folds by experiment order)"
    mean, var = np.empty(n), np.empty(n)
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        m = make_model().fit(X[train], y[train])
        mu, v = m.predict(X[test])
        mean[test], var[test] = mu, v
    return LOO(mean, var, method, False)


@dataclass
class Parity:
    rmse: float
    r2: float
    spearman: float
    coverage: float  # share of measurements within +-2 sd


def parity_metrics(measured: np.ndarray, predicted: np.ndarray, sd: np.ndarray) -> Parity:
    from scipy.stats import spearmanr

    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    res = measured - predicted
    ss_tot = float(np.sum((measured - measured.mean()) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / ss_tot if ss_tot > 0 else float("nan")
    varies = len(measured) > 2 and np.ptp(measured) > 0 and np.ptp(predicted) > 0  # else no rank correlation
    rho = float(spearmanr(measured, predicted).statistic) if varies else float("nan")
    return Parity(float(np.sqrt(np.mean(res**2))), r2, rho, float(np.mean(np.abs(res) <= 2 * np.asarray(sd))))


# ----------------------------------------------------------------------------- the model, rebuilt


@dataclass
class ModelView:
    campaign: Any
    proposer: Any
    model: Any
    exps: list[Experiment]  # the succeeded experiments it was fitted on, in order
    X: np.ndarray
    y: np.ndarray  # internal units
    display: Display
    hyper: dict
    best_internal: float  # the incumbent the acquisition uses
    busy: list[Experiment] = field(default_factory=list)  # in flight or failed: fantasies for the acquisition
    _acq_model: Any = None

    @property
    def failed(self) -> list[Experiment]:
        return [e for e in self.busy if e.status in ("failed", "timed_out")]

    def acquisition(self, X: np.ndarray) -> np.ndarray:
        """The acquisition of the next single experiment at encoded X, as the engine's next step computes it:
        experiments in flight and failed ones are added to the model as fantasies at its predicted mean."""
        if self._acq_model is None:
            model, best = self.model, self.best_internal
            if self.busy and callable(getattr(model, "condition", None)):
                Xb = self.campaign.space.encode([e.params for e in self.busy])
                if not self.proposer.raw_acquisition:
                    mu, _ = model.predict(Xb)
                    best = max(best, float(np.max(mu)))
                model = model.condition(Xb)
            self._acq_model, self._acq_best = model, best
        mean, var = self._acq_model.predict(X)
        return np.asarray(self.proposer.acquisition(mean, var, best=self._acq_best), dtype=float)


def rebuild_campaign(row: Any, notes: list[str] | None = None):
    """The Campaign of a stored row; raises ConfigError if it cannot be rebuilt here.

    The report needs the space, the model and the acquisition, not the oracle: an oracle plugin
    that is not installed where the report runs (a lab's own package) does not stop it. A model,
    acquisition or initial setting that this version refuses (stored by an older one) takes its
    default, with a note appended to ``notes`` (see ``stored_spec``).
    """
    from .stored_spec import relaxed, relaxed_note

    base_dir = Path(row.base_dir or ".")
    try:
        return _rebuild(row.spec, base_dir)
    except ConfigError:
        spec, removed = relaxed(row.spec, base_dir)
        if not removed:
            raise
        campaign = _rebuild(spec, base_dir)
        if notes is not None:
            notes.append(relaxed_note(row.name, removed))
        return campaign


def changed_files_notes(store: Store, row: Any, campaign: Any) -> list[str]:
    """A note for each data file (the pool, a lookup table, a transfer CSV source) changed since the campaign
    recorded it: the report's model is fitted with the file as it is now, unlike the run's."""
    from .engine import changed_files, data_files

    try:
        now = data_files(campaign)
    except OSError:
        return []
    return [f"{field}: {now[field]['path']} changed since the campaign recorded it (its SHA-256 differs): this "
            "report's model is fitted with the file as it is now, not as the run read it"
            for field in changed_files(now, store.campaign_files(row.id) or {})]


def _rebuild(data: dict, base_dir: Path):
    from .config import Campaign, campaign_from_spec, check_campaign, parse_spec

    spec = parse_spec(data, "stored spec")
    try:
        return campaign_from_spec(spec, base_dir, "stored spec")
    except ConfigError:
        problems, space, classes, configs = check_campaign(spec, base_dir)
        if space is None or any(not p.path.startswith("oracle") for p in problems) \
                or "model" not in classes or "acquisition" not in classes:
            raise
        return Campaign(spec=spec, base_dir=base_dir, space=space, plugin_classes=classes, plugin_configs=configs)


def fit_model(row: Any, store: Store, exps: Sequence[Experiment], notes: list[str] | None = None) -> ModelView:
    """Fit the campaign's model on its succeeded experiments, warm-started from the latest snapshot."""
    from .proposer import Proposer

    campaign = rebuild_campaign(row, notes)
    if notes is not None:
        notes += changed_files_notes(store, row, campaign)
    proposer = Proposer(campaign, store=store)
    done = [e for e in exps if e.status == "succeeded" and e.value is not None]
    X = campaign.space.encode([e.params for e in done])
    raw = np.array([e.value for e in done], dtype=float)
    y = proposer.warp(proposer.internal(raw))  # what the engine's next step fits on
    step = max((e.step for e in exps), default=0) + 1
    warm = store.latest_snapshot(row.id)
    model = proposer.build_model(step, warm_state=warm)
    model.fit(X, y)
    hyper = model.get_state() if hasattr(model, "get_state") else {}
    if proposer.raw_acquisition:
        best = float(np.min(np.abs(raw - proposer.target)))
    else:
        best = float(np.max(y))
    busy = [e for e in exps if e.status in PENDING or e.status in ("failed", "timed_out")]
    display = Display(Objective.from_spec(row.spec), proposer.raw_acquisition, campaign.spec.model.transform)
    return ModelView(campaign, proposer, model, done, X, y, display, hyper, best, busy)


# ----------------------------------------------------------------------------- plotting helpers


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


PNG_MARK = "looplab report"  # the PNGs' Software text: an existing PNG without it is not replaced


def _tmp(path: Path) -> Path:
    """The temporary file, in the same folder, that ``path`` is written to before it is moved into place."""
    return path.with_name(f".{path.name}.tmp")


def _write_failed(path: Path, exc: OSError) -> ReportError:
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    return ReportError(f"--out: cannot write '{path}' ({exc.strerror or exc}); "
                       + ("free some space there or choose another folder" if full else "choose another folder"))


def _save(fig, path: Path) -> Path:
    """Draw ``fig`` into ``path`` whole or not at all: into a temporary file, moved into place when complete (a
    full disk left a truncated relevance.png and an empty timings.png, which the next report refused to replace
    as not its own). A failure to write is the report's error (ReportError), not one section's note."""
    tmp = _tmp(path)
    try:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white", metadata={"Software": PNG_MARK})
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise _write_failed(path, exc) from None
        raise
    return path


def _discard(path: Path) -> None:
    """Remove a file of this report's (a temporary one, or one a failed report wrote), if it is there."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except OSError:
        pass


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={(f'{v:.4g}' if isinstance(v, float) else v)}" for k, v in params.items())


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s >= 2 * 3600:
        return 3600.0, "h"
    if span_s >= 120:
        return 60.0, "min"
    return 1.0, "s"


def _use_log_scale(values: np.ndarray) -> bool:
    v = np.asarray(values, float)
    return len(v) > 1 and bool(np.all(v > 0)) and float(v.max() / v.min()) > 100.0


# ----------------------------------------------------------------------------- the plots


def plot_best_so_far(exps: Sequence[Experiment], objective: Objective, spec: dict, path: Path) -> Path:
    from matplotlib.lines import Line2D

    fig = _figure(8.0, 4.2)
    ax = fig.add_subplot()
    n = np.array([e.seq + 1 for e in exps])
    values = [e.value if e.status == "succeeded" else None for e in exps]
    running = best_so_far(values, objective)
    ok = [i for i, e in enumerate(exps) if values[i] is not None]
    handles = []
    for source, colour in SOURCE_COLOURS.items():
        idx = [i for i in ok if exps[i].source == source]
        if idx:
            ax.scatter(n[idx], [values[i] for i in idx], s=22, color=colour, zorder=3, edgecolor="white",
                       linewidth=0.5)
            label = {"initial": "initial design", "model": "model proposal", "random": "random (too few data)",
                     "retry": "retry"}[source]
            handles.append(Line2D([], [], marker="o", ls="", color=colour, label=label))
    xs = [n[i] for i in range(len(exps)) if running[i] is not None]
    ys = [running[i] for i in range(len(exps)) if running[i] is not None]
    if xs:
        ax.step(xs, ys, where="post", color="black", lw=1.6, zorder=2)
        handles.insert(0, Line2D([], [], color="black", lw=1.6, label="best so far"))
    best = best_experiment(exps, objective)
    if best is not None:
        ax.scatter([best.seq + 1], [best.value], marker="*", s=220, color="#E69F00", edgecolor="black",
                   linewidth=0.7, zorder=4)
        handles.append(Line2D([], [], marker="*", ls="", ms=12, color="#E69F00", markeredgecolor="black",
                              label=f"best: #{best.seq + 1} = {best.value:.4g}"))
    # experiments without a value: marked on the bottom edge of the plot
    trans = ax.get_xaxis_transform()
    for status, marker in (("failed", "x"), ("timed_out", "x"), ("cancelled", "|")):
        idx = [i for i, e in enumerate(exps) if e.status == status]
        if idx:
            ax.scatter(n[idx], [0.03] * len(idx), transform=trans, marker=marker, s=40,
                       color=STATUS_COLOURS[status], zorder=4, clip_on=False)
            handles.append(Line2D([], [], marker=marker, ls="", color=STATUS_COLOURS[status],
                                  label=f"{status.replace('_', ' ')} (no value)"))
    if objective.goal == "target":
        ax.axhline(objective.target, color="#D55E00", ls="--", lw=1)
        handles.append(Line2D([], [], color="#D55E00", ls="--", label=f"target {objective.target:g}"))
    stop_at = (spec.get("budget") or {}).get("stop_at")
    if stop_at is not None and objective.goal != "target":
        ax.axhline(stop_at, color="#CC79A7", ls=":", lw=1.2)
        handles.append(Line2D([], [], color="#CC79A7", ls=":", label=f"stop_at {stop_at:g}"))
    measured = [values[i] for i in ok]
    log = _use_log_scale(np.array(measured)) if measured else False
    if log:
        ax.set_yscale("log")
    if any(e.status in ("failed", "timed_out", "cancelled") for e in exps) and measured:
        lo, hi = ax.get_ylim()  # room at the bottom for the markers of experiments without a value
        if log:
            ax.set_ylim(lo / (hi / lo) ** 0.1, hi)
        else:
            ax.set_ylim(lo - 0.1 * (hi - lo), hi)
    if not measured:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no experiment has succeeded yet", transform=ax.transAxes, ha="center", va="center",
                color="#555555")
    ax.set_xlabel("experiment number (order of creation)")
    ax.set_ylabel(f"{objective.name} ({objective.unit + ', ' if objective.unit else ''}measured"
                  f"{', log scale' if log else ''})")
    ax.set_title(f"Best so far: {objective.describe()}", loc="left")
    if len(exps):
        ax.set_xlim(0.3, max(n) + 0.7)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
    return _save(fig, path)


def plot_timeline(exps: Sequence[Experiment], path: Path, end: datetime) -> Path:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    t0 = min(e.created_at for e in exps if e.created_at is not None)
    def sec(t: datetime | None) -> float | None:
        return None if t is None else (t - t0).total_seconds()

    end_s = sec(end)
    unit, uname = _time_unit(end_s)
    n = len(exps)
    fig = _figure(8.0, min(12.0, 2.2 + 0.11 * n))
    ax = fig.add_subplot()
    height = 0.72
    present: list[str] = []
    open_ended = False
    for e in exps:
        y = e.seq + 1
        c, s, f = sec(e.created_at) or 0.0, sec(e.submitted_at), sec(e.finished_at)
        colour = STATUS_COLOURS.get(e.status, "#000000")
        if e.status not in present:
            present.append(e.status)
        start_run = s if s is not None else c
        if s is not None and s > c:
            ax.barh(y, (s - c) / unit, left=c / unit, height=height, color="#DDDDDD", edgecolor="none")
        stop = f if f is not None else end_s
        if f is None and e.status in PENDING:
            open_ended = True
        ax.barh(y, max(stop - start_run, 0.0) / unit, left=start_run / unit, height=height, color=colour,
                edgecolor="none", alpha=0.55 if f is None else 1.0)
        # a dot at the end, so instant experiments stay visible
        ax.plot([stop / unit], [y], marker="o" if f is not None else ">", ms=3.5, color=colour)
    ax.set_ylim(n + 0.8, 0.2)
    ax.set_xlim(-0.015 * end_s / unit, 1.015 * end_s / unit if end_s > 0 else 1.0)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(n, 12), steps=[1, 2, 5, 10]))
    ax.set_ylabel("experiment number")
    ax.set_xlabel(f"time since the first experiment was created ({uname})")
    ax.set_title("Experiments over time: created → submitted → finished, coloured by status", loc="left")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color="#DDDDDD", label="waiting to be submitted")]
    handles += [Patch(color=STATUS_COLOURS[s], label=s.replace("_", " ")) for s in STATUSES if s in present]
    if open_ended:
        handles.append(Line2D([], [], marker=">", ls="", color="#555555", label="in flight (continues)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)


def plot_timings(steps: Sequence[dict], path: Path) -> Path:
    fig = _figure(8.0, 3.2)
    ax = fig.add_subplot()
    model_steps = [s for s in steps if s["source"] == "model"]
    k = np.array([s["step"] for s in model_steps])
    fit = np.array([s["fit_seconds"] for s in model_steps])
    acq = np.array([s["acquisition_seconds"] for s in model_steps])
    ax.plot(k, fit, marker="o", ms=3.5, color="#0072B2", label="model fit")
    ax.plot(k, acq, marker="s", ms=3.5, color="#D55E00", label="acquisition (batch selection)")
    positive = np.concatenate([fit[fit > 0], acq[acq > 0]])
    if _use_log_scale(positive) and len(positive) == 2 * len(k):
        ax.set_yscale("log")
        ax.set_ylabel("seconds (log scale)")
    else:
        ax.set_ylabel("seconds")
        ax.set_ylim(bottom=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_title("Time per proposing step", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_constants(history: Sequence[dict], path: Path) -> Path:
    """Each learned constant (mean, +-2 sd) against the number of experiments the fit had seen."""
    names = list(dict.fromkeys(k for h in history for k in h["constants"]))
    fig = _figure(8.0, 2.6 * len(names) + 0.4)
    for i, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, i + 1)
        pts = [(h["n_observations"], *h["constants"][name]) for h in history if name in h["constants"]]
        n, m, sd = (np.array(v, dtype=float) for v in zip(*pts))
        ax.errorbar(n, m, yerr=2 * sd, marker="o", ms=3.5, color="#0072B2", ecolor="#56B4E9", capsize=2,
                    label=f"{name}: mean ± 2 sd")
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if i == 0:
            ax.set_title("Learned physical constants", loc="left")
    ax.set_xlabel("succeeded experiments the model was fitted on")
    return _save(fig, path)


def plot_parity(view: ModelView, loo: LOO, metrics: Parity, path: Path) -> Path:
    d = view.display
    measured = d.mean(view.y)
    pred = d.mean(loo.mean)
    sd = np.sqrt(np.maximum(loo.var, 0.0))
    fig = _figure(5.8, 5.4)
    ax = fig.add_subplot()
    ax.errorbar(measured, pred, yerr=2 * sd, fmt="o", ms=4, color="#0072B2", ecolor="#0072B2",
                elinewidth=0.8, alpha=0.8, capsize=2)
    lo = float(min(measured.min(), (pred - 2 * sd).min()))
    hi = float(max(measured.max(), (pred + 2 * sd).max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="black", lw=1, ls="--")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    text = (f"N = {len(measured)}\nRMSE = {metrics.rmse:.3g}\nR² = {metrics.r2:.3f}\n"
            f"Spearman ρ = {metrics.spearman:.3f}\nwithin ±2 sd: {100 * metrics.coverage:.0f}%\n"
            "bars: ±2 sd; dashed: y = x")
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=9,
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="#999999", alpha=0.9))
    ax.set_xlabel(f"measured {d.label}")
    ax.set_ylabel(f"predicted {d.label} (left out)")
    ax.set_title("Model parity: leave-one-out", loc="left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


# -- the model over the space


def _acq_label(view: ModelView) -> tuple[str, bool]:
    """A label for the acquisition's scores, and whether they are logarithmic."""
    kind = view.campaign.spec.acquisition.kind
    labels = {"ei": ("log expected improvement", True), "pi": ("log probability of improvement", True),
              "ucb": ("upper confidence bound (internal units)", False),
              "max-variance": ("predictive variance", False), "target": ("expected gain in closeness", False)}
    return labels.get(kind, (f"acquisition '{kind}'", False))


def _acq_levels(a: np.ndarray, log: bool) -> tuple[float, float]:
    a = a[np.isfinite(a)]
    hi = float(a.max())
    lo = float(np.percentile(a, 2))
    if log:
        lo = max(lo, hi - 12.0)
    if not hi > lo:
        lo = hi - 1.0
    return lo, hi


def _axis_values(p: Any, u: np.ndarray) -> np.ndarray:
    """Raw parameter values at encoded coordinates u (continuous, ints not rounded)."""
    if getattr(p, "log", False):
        return np.exp(np.log(p.low) + u * (np.log(p.high) - np.log(p.low)))
    return p.low + u * (p.high - p.low)


def model_plot_kind(space: Any) -> tuple[str | None, str]:
    """Which picture of the model fits this space: ('1d'|'2d'|'pool2'|'ternary', '') or (None, why not)."""
    from .config import CategoricalParameter

    if not space.is_pool:
        if any(isinstance(p, CategoricalParameter) for p in space.parameters):
            return None, "the space has categorical parameters, so the model is not drawn over it"
        if space.dim == 1:
            return "1d", ""
        if space.dim == 2:
            return "2d", ""
        return None, f"the space has {space.dim} inputs; the model is drawn only for 1 or 2 inputs"
    numeric = all(all(isinstance(c[n], float) for c in space.candidates) for n in space.names)
    if not numeric:
        return None, "the pool has non-numeric inputs, so the model is not drawn over it"
    if len(space.names) == 2:
        return "pool2", ""
    if len(space.names) == 3:
        sums = np.array([sum(c[n] for n in space.names) for c in space.candidates])
        if np.allclose(sums, sums[0], rtol=1e-6, atol=1e-9) and np.all(
                np.array([[c[n] for n in space.names] for c in space.candidates]) >= 0):
            return "ternary", ""
    return None, (f"the pool has {len(space.names)} inputs; the model is drawn only for pools of 2 numeric "
                  "inputs or of 3-component compositions")


def plot_model(view: ModelView, kind: str, path: Path) -> tuple[Path, str]:
    """The model's mean, sd and acquisition over the space; returns the path and a caption."""
    if kind == "1d":
        return _plot_model_1d(view, path)
    if kind == "2d":
        return _plot_model_2d(view, path)
    return _plot_model_pool(view, kind, path)


def _plot_model_1d(view: ModelView, path: Path) -> tuple[Path, str]:
    space, d = view.campaign.space, view.display
    p = space.parameters[0]
    u = np.linspace(0.0, 1.0, 400)
    mean, var = view.model.predict(u[:, None])
    acq = view.acquisition(u[:, None])
    x = _axis_values(p, u)
    m, sd = d.mean(mean), np.sqrt(var)
    fig = _figure(8.0, 5.6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    ax1.fill_between(x, m - 2 * sd, m + 2 * sd, color="#56B4E9", alpha=0.35, label="mean ± 2 sd")
    ax1.plot(x, m, color="#0072B2", lw=1.6, label="model mean")
    obs_x = [e.params[p.name] for e in view.exps]
    ax1.scatter(obs_x, [e.value for e in view.exps] if d.invertible else d.mean(view.y), s=22, color="black",
                zorder=3, label="measured")
    if view.failed:
        ax1.scatter([e.params[p.name] for e in view.failed], [0.03] * len(view.failed), marker="x", s=40,
                    color=STATUS_COLOURS["failed"], transform=ax1.get_xaxis_transform(), zorder=4,
                    label="failed / timed out (no value)")
    ax1.set_ylabel(_objective_label(view))
    ax1.set_title(f"Model over {p.name} ({len(view.exps)} observations)", loc="left")
    ax1.legend(fontsize=8, loc="best")
    ax1.grid(alpha=0.3)
    label, log = _acq_label(view)
    lo, _ = _acq_levels(acq, log)
    ax2.plot(x, np.maximum(acq, lo), color="#D55E00", lw=1.4)
    j = int(np.argmax(acq))
    ax2.axvline(x[j], color="#D55E00", ls=":", lw=1)
    ax2.scatter([x[j]], [acq[j]], marker="v", color="#D55E00", zorder=3, clip_on=False,
                label=f"maximum (next experiment): {p.name} = {x[j]:.4g}")
    if log:
        label += " (clipped)"
    ax2.set_ylabel(textwrap.fill(label, 22), fontsize=9)
    ax2.set_xlabel(p.name + _unit_of(view.campaign.space, p.name) + (" (log scale)" if getattr(p, "log", False) else ""))
    ax2.legend(fontsize=8, loc="best")
    ax2.grid(alpha=0.3)
    if getattr(p, "log", False):
        ax2.set_xscale("log")
    return _save(fig, path), ("Top: the model's mean with a ±2 sd band of the latent function and the measured "
                              "values; bottom: the acquisition function for the next single experiment.")


def _unit_of(space: Any, name: str) -> str:
    """`` (unit)`` of an input (its ``unit:`` in the campaign file), or nothing."""
    p = next((p for p in getattr(space, "parameters", None) or [] if p.name == name), None)
    unit = getattr(p, "unit", None)
    return f" ({unit})" if unit else ""


def _objective_label(view: ModelView) -> str:
    unit = view.campaign.spec.objective.unit
    return view.display.label + (f" ({unit})" if unit and view.display.invertible else "")


def plot_slices(view: ModelView, path: Path) -> tuple[Path, str]:
    """One panel per input: the model along that input through the predicted best, mean ± 2 sd, with the
    measured points near the slice; a categorical input is one bar per level."""
    from .predicted import near_slice, predicted_best, slices

    space, d = view.campaign.space, view.display
    pred = predicted_best(view.proposer, view.model, [e.params for e in view.exps], [e.value for e in view.exps])
    i = [e.params for e in view.exps].index(pred["params"])
    centre = view.X[i]
    cuts = slices(space, view.model, centre)
    n = len(cuts)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(4.0 * ncols, 3.1 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    shown = np.array([e.value for e in view.exps]) if d.invertible else d.mean(view.y)
    for ax, cut in zip(axes, cuts):
        m, sd = d.mean(cut.mean), cut.sd
        near = near_slice(view.X, centre, cut.columns)
        at = centre[cut.columns]
        if cut.kind == "numeric":
            x = np.asarray(cut.axis, dtype=float)
            ax.fill_between(x, m - 2 * sd, m + 2 * sd, color="#56B4E9", alpha=0.35, lw=0)
            ax.plot(x, m, color="#0072B2", lw=1.5)
            u = view.X[near, cut.columns.start]
            xs = np.interp(u, np.linspace(0, 1, len(x)), x)
            ax.scatter(xs, shown[near], s=16, color="black", zorder=3)
            ax.axvline(float(np.interp(at[0], np.linspace(0, 1, len(x)), x)), color="#E69F00", ls="--", lw=1)
            p = next((p for p in getattr(space, "parameters", None) or [] if p.name == cut.name), None)
            if getattr(p, "log", False):
                ax.set_xscale("log")
        else:
            pos = np.arange(len(cut.axis))
            colours = ["#E69F00" if np.allclose(cut.X[k, cut.columns], at) else "#56B4E9" for k in pos]
            ax.bar(pos, m, yerr=2 * sd, color=colours, edgecolor="#0072B2", capsize=4, alpha=0.8)
            rows = view.X[near][:, cut.columns]
            level = [int(np.argmin(np.sum((cut.X[:, cut.columns] - r) ** 2, axis=1))) for r in rows]
            jitter = np.linspace(-0.15, 0.15, max(len(level), 1))[:len(level)]
            ax.scatter(np.array(level, dtype=float) + jitter, shown[near], s=16, color="black", zorder=3)
            ax.set_xticks(pos, [str(v) for v in cut.axis], rotation=30 if len(pos) > 4 else 0, fontsize=8)
            lo = float(np.min(np.concatenate([m - 2 * sd, shown[near]])))
            hi = float(np.max(np.concatenate([m + 2 * sd, shown[near]])))
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-12), hi + 0.05 * (hi - lo + 1e-12))
        ax.set_xlabel(cut.name + _unit_of(space, cut.name))
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    for r in range(nrows):
        axes[r * ncols].set_ylabel(_objective_label(view))
    centre_text = _fmt_params(pred["params"])
    fig.suptitle(textwrap.fill(f"Slices through the predicted best ({centre_text})", 40 * ncols), fontsize=10,
                 x=0.01, ha="left")
    return _save(fig, path), (
        "Each panel varies one input over its whole range with every other input held at the predicted best "
        f"(the measured point with the best model mean: {centre_text}; dashed line / orange bar). The line (or "
        "bar) is the model's mean with a ±2 sd band (error bar) of the latent function; dots are the measured "
        "values of experiments whose other inputs lie near the slice (within 0.2 in the [0, 1]-scaled "
        "inputs, root-mean-square). A sum constraint is not kept along a slice.")


def relevance_of(view: ModelView) -> tuple[dict[str, float], dict[str, float] | None]:
    """(sensitivity of the model's mean per input, 1/lengthscale per input or None), each summing to 1."""
    from .predicted import lengthscale_relevance, sensitivity

    seed = int(view.campaign.spec.seed)
    return (sensitivity(view.campaign.space, view.model, np.random.default_rng(seed)),
            lengthscale_relevance(view.campaign.space, view.hyper))


def plot_relevance(view: ModelView, path: Path) -> tuple[Path, str]:
    sens, ls = relevance_of(view)
    names = sorted(sens, key=lambda k: sens[k])
    fig = _figure(7.0, 0.45 * len(names) + 1.4)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    h = 0.38 if ls else 0.7
    ax.barh(y + (h / 2 if ls else 0), [sens[k] for k in names], height=h, color="#0072B2",
            label="sensitivity of the model's mean")
    if ls:
        ax.barh(y - h / 2, [ls[k] for k in names], height=h, color="#E69F00", label="1 / lengthscale (GP)")
    ax.set_yticks(y, [k + _unit_of(view.campaign.space, k) for k in names])
    ax.set_xlabel("relevance (share of the total)")
    ax.set_title("Which inputs matter", loc="left")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    caption = ("Sensitivity: at 64 random points of the space (of the pool), the standard deviation of the "
               "model's mean along each input's whole range (every level of a categorical input), averaged, "
               "then normalised to sum 1; it works for any model.")
    if ls:
        caption += (" 1 / lengthscale: the GP's inverse lengthscales (inputs scaled to [0, 1]; a categorical "
                    "input's shortest one), normalised to sum 1: a long lengthscale means the model sees little "
                    "change along that input. The GP's lengthscale prior keeps lengthscales within a few units, so this "
                    "separates inputs less than the sensitivity does, and a categorical input's (one-hot) lengthscale "
                    "is not on a numeric input's scale: compare numeric inputs among themselves.")
    return _save(fig, path), caption


def _marker_handles(with_next: bool, constraint: str | None = None, failed: bool = False) -> list:
    from matplotlib.lines import Line2D

    h = [Line2D([], [], marker="o", ls="", ms=6, markerfacecolor="white", markeredgecolor="black",
                label="measured (succeeded)"),
         Line2D([], [], marker="*", ls="", ms=13, color="#E69F00", markeredgecolor="black", label="best measured")]
    if with_next:
        h.append(Line2D([], [], marker="P", ls="", ms=10, color="#D55E00", markeredgecolor="white",
                        label="acquisition maximum (next experiment)"))
    if failed:
        h.append(Line2D([], [], marker="x", ls="", ms=7, color=STATUS_COLOURS["failed"], label="failed / timed out"))
    if constraint:
        h.append(Line2D([], [], color="#333333", ls="--", label=constraint))
    return h


def _panels(view: ModelView, mean: np.ndarray, var: np.ndarray, acq: np.ndarray) -> list[tuple]:
    """(values, colourbar label, colormap, clip range or None) of the three panels."""
    d = view.display
    label, log = _acq_label(view)
    finite = acq[np.isfinite(acq)]
    clip = _acq_levels(finite, log) if finite.size else (0.0, 1.0)
    if log:
        label += f" (clipped below {clip[0]:.3g})"
    return [(d.mean(mean), f"mean of {d.label}", "viridis", None),
            (np.sqrt(var), f"sd of {d.label}", "magma", None),
            (acq, label, "cividis", clip)]


def _plot_model_2d(view: ModelView, path: Path) -> tuple[Path, str]:
    space = view.campaign.space
    p1, p2 = space.parameters
    g = 80
    u1, u2 = np.meshgrid(np.linspace(0, 1, g), np.linspace(0, 1, g))
    U = np.column_stack([u1.ravel(), u2.ravel()])
    mean, var = view.model.predict(U)
    acq = view.acquisition(U)
    X1, X2 = _axis_values(p1, u1), _axis_values(p2, u2)
    fig = _figure(14.0, 5.4)
    axes = fig.subplots(1, 3)
    ox = [e.params[p1.name] for e in view.exps]
    oy = [e.params[p2.name] for e in view.exps]
    best = best_experiment(view.exps, view.display.objective)
    j = int(np.argmax(acq))
    next_xy = (X1.ravel()[j], X2.ravel()[j])
    constraint = None
    line = None
    for c in space.constraints:
        if set(c.parameters) == {p1.name, p2.name}:
            # the only feasible points: the line p1 + p2 = total; the maximum is taken along it
            xs = np.linspace(p1.low, p1.high, 400)
            ys = c.total - xs
            keep = (ys >= p2.low) & (ys <= p2.high)
            line = (xs[keep], ys[keep])
            constraint = f"feasible: {p1.name} + {p2.name} = {c.total:g}"
            if keep.any():
                a_line = view.acquisition(space.encode([{p1.name: a, p2.name: b} for a, b in zip(*line)]))
                k = int(np.argmax(a_line))
                next_xy = (line[0][k], line[1][k])
    titles = ("model mean", "model uncertainty (sd)", "acquisition")
    for k, (ax, (Z, label, cmap, clip)) in enumerate(zip(axes, _panels(view, mean, var, acq))):
        Z = Z.reshape(g, g)
        if clip is not None:
            cs = ax.contourf(X1, X2, np.clip(Z, *clip), levels=np.linspace(clip[0], clip[1], 21), cmap=cmap)
        else:
            cs = ax.contourf(X1, X2, Z, levels=20, cmap=cmap)
        cb = fig.colorbar(cs, ax=ax, orientation="horizontal", pad=0.02, aspect=30)
        cb.set_label(label, fontsize=9)
        cb.ax.tick_params(labelsize=8)
        if line is not None:
            ax.plot(*line, color="white", ls="--", lw=1.2)
        ax.scatter(ox, oy, s=20, color="white", edgecolor="black", linewidth=0.8, zorder=3, clip_on=False)
        if best is not None:
            ax.scatter([best.params[p1.name]], [best.params[p2.name]], marker="*", s=170, color="#E69F00",
                       edgecolor="black", linewidth=0.7, zorder=4, clip_on=False)
        if view.failed:
            ax.scatter([e.params[p1.name] for e in view.failed], [e.params[p2.name] for e in view.failed],
                       marker="x", s=36, color=STATUS_COLOURS["failed"], linewidth=1.6, zorder=4, clip_on=False)
        if k == 2:
            ax.scatter([next_xy[0]], [next_xy[1]], marker="P", s=110, color="#D55E00", edgecolor="white",
                       linewidth=0.8, zorder=5, clip_on=False)
        ax.set_title(titles[k], fontsize=10)
        ax.set_xlabel(p1.name + _unit_of(space, p1.name) + (" (log scale)" if getattr(p1, "log", False) else ""),
                      labelpad=1)
        ax.set_ylabel(p2.name + _unit_of(space, p2.name) + (" (log scale)" if getattr(p2, "log", False) else ""))
        if getattr(p1, "log", False):
            ax.set_xscale("log")
        if getattr(p2, "log", False):
            ax.set_yscale("log")
    fig.suptitle(f"Model over ({p1.name}, {p2.name}) after {len(view.exps)} observations", x=0.01, ha="left")
    fig.legend(handles=_marker_handles(True, constraint, bool(view.failed)), loc="outside upper right", ncols=5,
               fontsize=8,
               frameon=False)
    return _save(fig, path), ("Left to right: the model's mean, its standard deviation (of the latent function) "
                              "and the acquisition function for the next single experiment, with the measured "
                              "points (white), the best one (star) and the acquisition's maximum on the grid (cross).")


def _plot_model_pool(view: ModelView, kind: str, path: Path) -> tuple[Path, str]:
    space = view.campaign.space
    names = space.names
    mean, var = view.model.predict(space.X)
    acq = view.acquisition(space.X)
    used = {i for e in view.exps if (i := space.index_of(e.params)) is not None}
    available = np.ones(space.size, dtype=bool)
    available[list(used)] = False
    acq = np.where(available, acq, np.nan)
    if kind == "ternary":
        P = np.array([[c[n] for n in names] for c in space.candidates], dtype=float)
        F = P / P.sum(axis=1, keepdims=True)
        xy = np.column_stack([F[:, 1] + 0.5 * F[:, 2], (math.sqrt(3) / 2) * F[:, 2]])
    else:
        xy = np.array([[c[n] for n in names] for c in space.candidates], dtype=float)
    obs_idx = [i for e in view.exps if (i := space.index_of(e.params)) is not None]
    obs = xy[obs_idx] if obs_idx else np.zeros((0, 2))
    best = best_experiment(view.exps, view.display.objective)
    fig = _figure(14.0, 5.0 if kind == "ternary" else 5.4)
    axes = fig.subplots(1, 3)
    # markers about as wide as the spacing of a regular lattice of this many points
    size = float(np.clip((30000.0 if kind == "ternary" else 12000.0) / max(space.size, 1), 4, 80))
    titles = ("model mean", "model uncertainty (sd)", "acquisition (grey: already measured)")
    has_next = False
    for k, (ax, (Z, label, cmap, clip)) in enumerate(zip(axes, _panels(view, mean, var, acq))):
        kw: dict[str, Any] = {}
        if clip is not None:
            kw = {"vmin": clip[0], "vmax": clip[1]}
            Z = np.clip(Z, *clip)
        if k == 2:
            from matplotlib import colormaps

            cmap = colormaps[cmap].with_extremes(bad="#DDDDDD")
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=Z, s=size, cmap=cmap, marker="h" if kind == "ternary" else "o",
                        linewidth=0, plotnonfinite=True, **kw)
        cb = fig.colorbar(sc, ax=ax, orientation="horizontal", pad=0.02, aspect=30)
        cb.set_label(label, fontsize=9)
        cb.ax.tick_params(labelsize=8)
        if len(obs):
            ax.scatter(obs[:, 0], obs[:, 1], s=26, facecolor="none", edgecolor="white", linewidth=2.0, zorder=3)
            ax.scatter(obs[:, 0], obs[:, 1], s=26, facecolor="none", edgecolor="black", linewidth=0.8, zorder=3)
        if best is not None and (i := space.index_of(best.params)) is not None:
            ax.scatter([xy[i, 0]], [xy[i, 1]], marker="*", s=170, color="#E69F00", edgecolor="black", linewidth=0.7,
                       zorder=4)
        fx = [xy[i] for e in view.failed if (i := space.index_of(e.params)) is not None]
        if fx:
            ax.scatter([q[0] for q in fx], [q[1] for q in fx], marker="x", s=36, color=STATUS_COLOURS["failed"],
                       linewidth=1.6, zorder=4)
        if k == 2 and np.isfinite(acq).any():
            j = int(np.nanargmax(acq))
            has_next = True
            ax.scatter([xy[j, 0]], [xy[j, 1]], marker="P", s=110, color="#D55E00", edgecolor="white", linewidth=0.8,
                       zorder=5)
        ax.set_title(titles[k], fontsize=10)
        if kind == "ternary":
            _ternary_frame(ax, names)
        else:
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
    what = "on the composition triangle" if kind == "ternary" else f"over ({names[0]}, {names[1]})"
    fig.suptitle(f"Model {what}: the pool's {space.size} candidates after {len(view.exps)} observations",
                 x=0.01, ha="left")
    fig.legend(handles=_marker_handles(has_next, failed=bool(view.failed)), loc="outside upper right", ncols=4,
               fontsize=8, frameon=False)
    caption = ("Each candidate of the pool, coloured by the model's mean, its standard deviation, and the acquisition "
               "function for the next single experiment (grey: already measured). Circles: measured candidates; "
               "star: the best; cross: the acquisition's maximum.")
    if kind == "ternary":
        caption += (f" Ternary coordinates: a corner is a pure component ({', '.join(names)}); the distance from "
                    "the opposite edge is that component's share.")
    return _save(fig, path), caption


def _ternary_frame(ax, names: Sequence[str]) -> None:
    h = math.sqrt(3) / 2
    ax.plot([0, 1, 0.5, 0], [0, 0, h, 0], color="black", lw=0.8)
    for f in (0.25, 0.5, 0.75):  # lines of constant share, behind the points
        ax.plot([f * 0.5, 1 - f * 0.5], [f * h, f * h], color="#BBBBBB", lw=0.4, zorder=0)
        ax.plot([f, 0.5 + f * 0.5], [0, (1 - f) * h], color="#BBBBBB", lw=0.4, zorder=0)
        ax.plot([f, f * 0.5], [0, f * h], color="#BBBBBB", lw=0.4, zorder=0)
    ax.text(-0.03, -0.02, names[0], ha="right", va="top", fontsize=9)
    ax.text(1.03, -0.02, names[1], ha="left", va="top", fontsize=9)
    ax.text(0.5, h + 0.04, names[2], ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.14, 1.14)
    ax.set_ylim(-0.08, h + 0.12)
    ax.set_aspect("equal")
    ax.axis("off")



# ----------------------------------------------------------------------------- the page


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
padding:1.2em 1.6em;color:#222;line-height:1.45}
h1{margin:.2em 0 .1em;font-size:1.7em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin:0 0 1em}
table{border-collapse:collapse;font-size:.92em}td,th{padding:.28em .7em;border-bottom:1px solid #e5e5e5;
text-align:left;vertical-align:top}th{background:#f4f4f4}
table.kv th{background:none;width:14em;color:#444;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;border:1px solid #eee}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.5em .8em;margin:.8em 0}
.caption{color:#555;font-size:.9em;margin:.3em 0 1em}
.badge{display:inline-block;padding:.05em .55em;border-radius:.8em;color:#fff;font-size:.85em}
nav a{margin-right:1em}code{background:#f4f4f4;padding:0 .25em}
footer{margin-top:3em;color:#888;font-size:.85em}
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


CAMPAIGN_COLOURS = {"completed": "#009E73", "stopped": "#D55E00", "running": "#0072B2", "paused": "#E69F00"}


def _badge(status: str) -> str:
    """A coloured label for an experiment's or a campaign's status."""
    colour = STATUS_COLOURS.get(status) or CAMPAIGN_COLOURS.get(status, "#555555")
    return f'<span class="badge" style="background:{colour}">{_esc(status)}</span>'


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _dt(t: datetime | None) -> str:
    return "" if t is None else f"{t:%Y-%m-%d %H:%M:%S} UTC"


@dataclass
class Section:
    anchor: str
    title: str
    body: str


@dataclass
class ReportResult:
    html: Path
    pngs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is missing or skipped, one sentence each


# matplotlib's own backends (lower case); $MPLBACKEND may also name a module ("module://..."), as Jupyter does
MPL_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template", "gtk3agg", "gtk3cairo", "gtk4agg",
                "gtk4cairo", "macosx", "nbagg", "notebook", "qtagg", "qtcairo", "qt5agg", "qt5cairo", "tkagg",
                "tkcairo", "webagg", "wx", "wxagg", "wxcairo", "inline", "ipympl", "widget"}


def headless_matplotlib() -> str:
    """Before matplotlib is first imported: an $MPLBACKEND that names no backend made its import fail, and every
    plot of a report with it (the plots are files: Agg draws them). Returns the note to give, or ''."""
    import os
    import sys

    given = os.environ.get("MPLBACKEND")
    if given is None or "matplotlib" in sys.modules or given.startswith("module://") or \
            given.strip().lower() in MPL_BACKENDS:
        return ""
    os.environ["MPLBACKEND"] = "Agg"
    return f"$MPLBACKEND is '{given}', which names no matplotlib backend: the plots were drawn with Agg"


def write_report(store: Store, row: Any, out_dir: Path, *, now: datetime | None = None) -> ReportResult:
    """Write the PNGs and ``report.html`` for the stored campaign ``row`` into ``out_dir``. Characters the
    plots' font cannot draw (CJK names, say) are one note, not a matplotlib warning per glyph."""
    backend = headless_matplotlib()
    with warnings.catch_warnings(record=True) as caught:  # the filters as they are: only recorded
        result = _write_report(store, row, out_dir, now=now)
    if backend:
        result.notes.insert(0, backend)
    missing = []
    for w in caught:
        glyph = re.match(r"Glyph (\d+) .* missing from", str(w.message))
        if glyph:
            missing.append(chr(int(glyph.group(1))))
        else:  # anything else is shown as it would have been
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if missing:
        shown = "".join(dict.fromkeys(missing))
        result.notes.append(f"the plots' font has no glyph for some characters of the names ({shown[:40]}): "
                            "they are drawn as boxes in the PNGs (report.html shows them)")
    return result


def file_head(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file (b"" when it cannot be read): enough for a page's title or a PNG's text
    chunks, which tell whether a report (or a benchmark) wrote the file."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _only_ours(out_dir: Path) -> None:
    """ReportError unless every file the report would replace in ``out_dir`` was written by a looplab report:
    a report.html titled 'looplab report' (then the folder is an earlier report's, every file in it replaced),
    or, without one, PNGs marked PNG_MARK. A folder of the user's own with a report.html or a model.png lost
    them without a word (fuzz round thirteen)."""
    page = out_dir / "report.html"
    if page.is_file() and not page.is_symlink():
        if b"<title>looplab report" in file_head(page):
            return
        raise ReportError(f"--out: '{page}' exists and is not a looplab report; writing the report would replace "
                          "it: choose another folder, or remove the file first")
    for name in (*PNG_NAMES, *OPTIONAL_PNG_NAMES):
        png = out_dir / name
        if png.is_file() and not png.is_symlink() and PNG_MARK.encode() not in file_head(png):
            raise ReportError(f"--out: '{png}' exists and was not drawn by a looplab report; writing the report "
                              "would replace it: choose another folder, or remove the file first")


def _clear(path: Path) -> None:
    """Remove an earlier output file (or a link, pipe or device by its name) before it is written anew: writing
    would follow a link to whatever it points at, and wait forever on a pipe. A folder by that name is the
    user's: refused."""
    if not path.is_symlink() and path.is_dir():
        raise ReportError(f"--out: '{path}' is a folder, where the report writes a file; move it away or "
                          "choose another folder")
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise ReportError(f"--out: cannot replace '{path}' ({exc.strerror or exc}); choose another folder") from None


def _write_report(store: Store, row: Any, out_dir: Path, *, now: datetime | None = None) -> ReportResult:
    out_dir = Path(out_dir)
    probe = out_dir / ".write-test"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _discard(probe)
        raise ReportError(f"--out: cannot write into '{out_dir}' ({exc.strerror or exc}); choose another folder") from None
    _only_ours(out_dir)
    names = ("report.html", *PNG_NAMES, *OPTIONAL_PNG_NAMES)
    for name in names:  # no stale pictures from an earlier report; a link is removed, not written
        _clear(out_dir / name)  # through (it may point at the store); so is a temporary file a killed report left
        _clear(_tmp(out_dir / name))
    try:
        return _draw_report(store, row, out_dir, now)
    except BaseException:  # every file by these names is this report's (all were removed above): a failed
        for name in names:  # report leaves none of them, and no temporary file, behind
            _discard(out_dir / name)
            _discard(_tmp(out_dir / name))
        raise


def _draw_report(store: Store, row: Any, out_dir: Path, now: datetime | None) -> ReportResult:
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    spec = row.spec if isinstance(row.spec, dict) else {}
    objective = Objective.from_spec(spec)
    exps = store.experiments(row.id)
    steps = store.steps(row.id)
    counts = store.counts(row.id)
    result = ReportResult(html=out_dir / "report.html")
    notes = result.notes
    sections: list[Section] = []
    succeeded = [e for e in exps if e.status == "succeeded" and e.value is not None]
    best = best_experiment(exps, objective)

    # 1. best so far
    body = ""
    if not exps:
        notes.append("the campaign has no experiments yet: there is nothing to plot")
        body = '<p class="note">The campaign has no experiments yet.</p>'
    else:
        try:
            p = plot_best_so_far(exps, objective, spec, out_dir / "best_so_far.png")
            result.pngs.append(p)
            body = _img(p, "best so far vs experiment number")
            body += ('<p class="caption">Each dot is a succeeded experiment (its measured value); the line is the '
                     'best value found up to that experiment. Experiments without a value (failed, timed out, '
                     'cancelled) are marked on the bottom edge.</p>')
        except Exception as exc:  # a plotting failure must not cost the rest of the page
            body = _section_fail(notes, "best so far", exc)
        if not succeeded:
            notes.append("no experiment has succeeded yet: there is no best value, and no model to show")
            body += '<p class="note">No experiment has succeeded yet, so there is no best value.</p>'
    sections.append(Section("best", "Best so far", body))

    # 2. timeline
    if exps:
        try:
            stamps = [t for e in exps for t in (e.created_at, e.submitted_at, e.finished_at) if t is not None]
            in_flight = any(e.status in PENDING for e in exps)
            last, first = max(stamps), min(stamps)
            # bars of experiments still in flight run on past the last event, but not to a report
            # written days later (that would squash the rest of the picture)
            end = min(max(now, last), last + max(0.2 * (last - first), timedelta(seconds=1))) if in_flight else last
            p = plot_timeline(exps, out_dir / "timeline.png", end)
            result.pngs.append(p)
            body = _img(p, "experiment timeline by status")
            body += ('<p class="caption">One bar per experiment, from its creation (written to the store as '
                     '<code>proposed</code>) through submission to the oracle (grey part: waiting) to its result, '
                     'coloured by its status now. A dot marks when the result was recorded; the gaps between '
                     'experiments are the model fits and acquisitions.</p>')
        except Exception as exc:
            body = _section_fail(notes, "timeline", exc)
        sections.append(Section("timeline", "Timeline", body))

    # 3 + 4. the model
    model_body, space_body = _model_sections(store, row, exps, succeeded, out_dir, result)
    sections.append(Section("parity", "Model parity (leave-one-out)", model_body))
    sections.append(Section("model", "Model over the search space", space_body))

    # 4b. learned physical constants (models with constants(): pinn, physics-gp)
    history = store.constants(row.id)
    if history:
        try:
            p = plot_constants(history, out_dir / "constants.png")
            result.pngs.append(p)
            last = history[-1]
            body = _img(p, "learned constants vs experiment number")
            body += ('<p class="caption">The physical constants the model learned at each fit, with ±2 standard '
                     'deviations, against the number of experiments it was fitted on. Latest: '
                     + ", ".join(f"{_esc(k)} = {m:.6g} ± {sd:.3g}" for k, (m, sd) in last["constants"].items())
                     + f' (after {last["n_observations"]} experiments).'
                     + "".join(f" <b>{_esc(k)} sits at its {'lower' if e.startswith('low') else 'upper'} bound "
                               f"(model.params.constants.{_esc(k)}.{_esc(e.split()[0])} = {_esc(e.split()[1])})</b>: "
                               "the data may want a value beyond it; widen the bound if that is physically possible."
                               for k, e in last.get("at_bound", {}).items())
                     + '</p>')
        except Exception as exc:
            body = _section_fail(notes, "learned constants", exc)
        sections.append(Section("constants", "Learned constants", body))

    # 5. the best experiments, failures, and step timings
    sections.append(Section("top", f"Best {TOP_N} experiments", _top_table(exps, objective)))
    failed = [e for e in exps if e.status in ("failed", "timed_out")]
    if failed:
        sections.append(Section("failures", "Failed experiments", _failure_table(failed)))
    timing_body = ""
    if any(s["source"] == "model" for s in steps):
        try:
            p = plot_timings(steps, out_dir / "timings.png")
            result.pngs.append(p)
            timing_body = _img(p, "fit and acquisition seconds per step")
            timing_body += ('<p class="caption">Wall-clock seconds of the model fit and of choosing the batch, per '
                            'proposing step (a step that reused the previous model shows no fit time). The first '
                            'fit in a process includes starting TensorFlow and compiling the GP\'s loss.</p>')
        except Exception as exc:
            timing_body = _section_fail(notes, "step timings", exc)
    else:
        timing_body = "<p>No step has used the model yet.</p>"
    sections.append(Section("timings", "Step timings", timing_body))

    page = _page(row, spec, objective, exps, steps, counts, best, sections, notes, store.display_url, now)
    tmp = _tmp(result.html)
    try:  # written whole, then moved into place: never a truncated page
        tmp.write_bytes(page.encode("utf-8", "replace"))
        os.replace(tmp, result.html)
    except OSError as exc:  # the temporary file is removed by _write_report, with the PNGs
        raise _write_failed(result.html, exc) from None
    return result


def _model_sections(store: Store, row: Any, exps: list[Experiment], succeeded: list[Experiment], out_dir: Path,
                    result: ReportResult) -> tuple[str, str]:
    notes = result.notes
    if len(succeeded) < 3:
        msg = (f"the model sections need at least 3 succeeded experiments (this campaign has {len(succeeded)})")
        notes.append(msg)
        return f'<p class="note">Skipped: {_esc(msg)}.</p>', f'<p class="note">Skipped: {_esc(msg)}.</p>'
    try:
        view = fit_model(row, store, exps, notes)
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        missing_pool = any(p.path == "space.pool.path" for p in exc.problems)
        why = ("the campaign's pool file is no longer where the stored spec says"
               if missing_pool else "the campaign cannot be rebuilt from its stored spec")
        msg = (f"{why} (campaign folder {row.base_dir}): {problems}. The model sections need it; restore the "
               "file (or the plugin) and run the report again")
        notes.append(msg)
        body = f'<p class="note">Skipped: {_esc(msg)}.</p>'
        return body, body
    except LooplabError as exc:
        msg = f"the model could not be rebuilt: {exc}"
        notes.append(msg)
        body = f'<p class="note">Skipped: {_esc(msg)}.</p>'
        return body, body
    except Exception as exc:  # a model plugin's own failure
        msg = f"the model could not be fitted: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        notes.append(msg)
        body = f'<p class="note">Skipped: {_esc(msg)}.</p>'
        return body, body

    spec = view.campaign.spec
    hyper = _hyper_html(view)
    # parity
    try:
        loo = model_loo(view.model, view.X, view.y,
                        lambda: view.proposer.build_model(max((e.step for e in exps), default=0) + 1,
                                                          store.latest_snapshot(row.id)))
        d = view.display
        metrics = parity_metrics(d.mean(view.y), d.mean(loo.mean), np.sqrt(np.maximum(loo.var, 0)))
        p = plot_parity(view, loo, metrics, out_dir / "parity.png")
        result.pngs.append(p)
        sd_what = ("a new measurement (noise included)" if loo.includes_noise
                   else "the model's prediction (its own uncertainty)")
        parity = _img(p, "leave-one-out parity plot")
        parity += (f'<p class="caption">Model <code>{_esc(spec.model.kind)}</code>, fitted on the '
                   f'{len(view.exps)} succeeded experiments warm-started from the latest stored snapshot (as the '
                   f'next step would fit it). Each point is predicted by the model without that point: '
                   f'{_esc(loo.method)}. Error bars are ±2 standard deviations of {sd_what}. '
                   f'RMSE {metrics.rmse:.4g}, R² {metrics.r2:.3f}, Spearman ρ {metrics.spearman:.3f}, '
                   f'{100 * metrics.coverage:.0f}% of the measurements within ±2 sd.</p>')
        parity += hyper
        if view.display.note():
            parity += f'<p class="note">{_esc(view.display.note())}</p>'
    except Exception as exc:
        parity = _section_fail(notes, "parity plot", exc)
    # the model over the space
    kind, why = model_plot_kind(view.campaign.space)
    if kind is None:
        space_html = (f"<p>The model is not drawn over the whole space ({_esc(why)}); instead, slices through "
                      "the predicted best and the inputs' relevance.</p>")
        for name, plot, alt in (("slices.png", plot_slices, "one-dimensional slices of the model"),
                                ("relevance.png", plot_relevance, "relevance of each input")):
            try:
                p, caption = plot(view, out_dir / name)
                result.pngs.append(p)
                space_html += _img(p, alt) + f'<p class="caption">{_esc(caption)}</p>'
            except Exception as exc:
                space_html += _section_fail(notes, alt, exc)
        if view.display.note():
            space_html += f'<p class="note">{_esc(view.display.note())}</p>'
    else:
        try:
            p, caption = plot_model(view, kind, out_dir / "model.png")
            result.pngs.append(p)
            space_html = _img(p, "model mean, uncertainty and acquisition over the space")
            space_html += (f'<p class="caption">{_esc(caption)} The acquisition is the one the engine\'s next step '
                           "computes: experiments in flight and failed ones enter the model as fantasy observations "
                           "at its predicted mean, so it does not propose them again.</p>")
        except Exception as exc:
            space_html = _section_fail(notes, "model over the space", exc)
    return parity, space_html


def _section_fail(notes: list[str], title: str, exc: Exception) -> str:
    if isinstance(exc, ReportError):  # a file that cannot be written (a full disk) fails the report, not a section
        raise exc
    first = str(exc).splitlines()[0] if str(exc) else ""
    msg = f"{title}: could not be drawn ({type(exc).__name__}: {first})"
    notes.append(msg)
    return f'<p class="note">{_esc(msg)}</p>'


def _hyper_html(view: ModelView) -> str:
    h = view.hyper or {}
    if not h:
        return ""
    names = view.campaign.space.names if view.campaign.space.dim == len(view.campaign.space.names) else None
    parts = []
    ls = h.get("lengthscales")
    if isinstance(ls, list):
        labels = names or [f"input {i}" for i in range(len(ls))]
        parts.append("lengthscales " + ", ".join(f"{_esc(n)} {v:.3g}" for n, v in zip(labels, ls)))
    for key in ("variance", "noise"):
        if isinstance(h.get(key), (int, float)):
            parts.append(f"{key} {h[key]:.3g}")
    if isinstance(h.get("rank_weight"), (int, float)):
        parts.append(f"mixed with a GP on the inputs' ranks in the pool, weight {h['rank_weight']:.2f}")
    if isinstance(h.get("weights"), dict) and h["weights"]:  # the transfer model's methods
        parts.append(f"transfer methods weighted {_transfer_rule(view, h)}: "
                     + ", ".join(f"{_esc(str(k))} {v:.2f}" for k, v in h["weights"].items()))
        fit = h.get("source_fit")
        if isinstance(fit, dict) and all(isinstance(fit.get(k), (int, float)) for k in ("scale", "r2", "rows")):
            parts.append(f"the multi-task GP predicted the best source's own {int(fit['rows'])} rows with a "
                         f"leave-one-out R² of {fit['r2']:.2f}, so the transfer methods' prior weight was scaled "
                         f"by {fit['scale']:.2f} (source_check_rows)")
        if isinstance(h.get("scored_weights"), dict):  # auto's gate: no transfer alone predicts
            set_aside = ", ".join(f"{_esc(str(k))} {v:.2f}" for k, v in h["scored_weights"].items())
            if h.get("gated_by") == "source check":
                gate = getattr(view.campaign.plugin_configs.get("model"), "source_check_gate", None)
                parts.append(f"that is below source_check_gate{f' ({gate:g})' if gate is not None else ''}, so no "
                             "transfer alone predicted: the transfer methods steer only once their predictions of "
                             f"three results are scored and beat it (the weights set aside: {set_aside})")
            else:
                parts.append(f"no transfer scored best, so it alone predicted (gate_on_none; the scores' weights: "
                             f"{set_aside})")
    if not parts:
        return ""
    return (f'<p class="caption">Hyperparameters used (inputs scaled to [0, 1], outputs standardised): '
            f'{"; ".join(parts)}.</p>')


def _transfer_rule(view: Any, h: dict) -> str:
    """How auto weighed its methods at the last step (the transfer model's state says on which predictions)."""
    cfg = view.campaign.plugin_configs.get("model")
    density = getattr(cfg, "weigh_by", "accuracy") == "density"
    on = str(h.get("weighed_on") or "leave-one-out")
    if on.startswith("prequential"):
        n = on.split()[-1]
        if density:
            return f"by the density each gave {n} results before they were measured"
        return f"by the accuracy of what each predicted for {n} results before they were measured"
    if on in ("equal", "prior"):
        return "by their prior weights (too few results to tell them apart)"
    return "by their leave-one-out densities" if density else "by the accuracy of their leave-one-out means"


def _top_table(exps: list[Experiment], objective: Objective) -> str:
    top = ranked(exps, objective)[:TOP_N]
    if not top:
        return "<p>No experiment has succeeded yet.</p>"
    rows = []
    for r, e in enumerate(top, 1):
        rows.append(f'<tr><td class="num">{r}</td><td class="num">{e.seq + 1}</td><td><code>{_esc(e.id)}</code></td>'
                    f"<td>{_esc(_fmt_params(e.params))}</td><td class=\"num\">{_esc(_fmt(e.value))}</td>"
                    f"<td>{_badge(e.status)}</td><td>{_esc(_dt(e.finished_at))}</td></tr>")
    head = (f"<tr><th>rank</th><th>#</th><th>id</th><th>params</th><th>{_esc(objective.with_unit)}</th><th>status</th>"
            "<th>finished</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _failure_table(failed: list[Experiment]) -> str:
    rows = [f'<tr><td class="num">{e.seq + 1}</td><td><code>{_esc(e.id)}</code></td><td>{_esc(_fmt_params(e.params))}'
            f"</td><td>{_badge(e.status)}</td><td>{_esc(e.error or '')}</td></tr>" for e in failed[:50]]
    more = f"<p>… and {len(failed) - 50} more.</p>" if len(failed) > 50 else ""
    return ("<table><tr><th>#</th><th>id</th><th>params</th><th>status</th><th>reason</th></tr>"
            f"{''.join(rows)}</table>{more}")


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _page(row: Any, spec: dict, objective: Objective, exps: list[Experiment], steps: list[dict],
          counts: dict[str, int], best: Experiment | None, sections: list[Section], notes: list[str], url: str,
          now: datetime) -> str:
    budget = spec.get("budget") or {}
    counted = sum(e.status not in UNCOUNTED for e in exps)
    count_txt = ", ".join(f"{counts.get(s, 0)} {s.replace('_', ' ')}" for s in STATUSES if counts.get(s, 0)) or "none"
    budget_txt = (f"{counted} of {budget.get('max_experiments', '?')} experiments used (cancelled and rejected ones "
                  "do not count)")
    if budget.get("stop_at") is not None:
        budget_txt += f"; stops once the best reaches {budget['stop_at']:g}"
    model_steps = [s for s in steps if s["source"] == "model"]
    fit = _median([s["fit_seconds"] for s in model_steps if s["fit_seconds"] > 0])
    acq = _median([s["acquisition_seconds"] for s in model_steps])
    if model_steps:
        timing_txt = (f"median model fit {fit:.3g} s, median acquisition {acq:.3g} s over {len(model_steps)} "
                      f"proposing step(s)" if fit is not None else f"median acquisition {acq:.3g} s")
        slowest = max(s["fit_seconds"] for s in model_steps)
        timing_txt += f"; slowest fit {slowest:.3g} s"
    else:
        timing_txt = "no model step yet"
    sp = spec.get("space") or {}
    if sp.get("pool"):
        space_txt = f"pool {sp['pool'].get('path')} over {', '.join(sp['pool'].get('inputs', []))}"
    else:
        params = sp.get("parameters") or []
        space_txt = ", ".join(f"{p.get('name')} ({p.get('type')}"
                              + (f" {p.get('low'):g}…{p.get('high'):g}" if p.get("type") in ("float", "int") else "")
                              + (", log" if p.get("log") else "") + ")" for p in params)
    kv = [
        ("status", _badge(row.status) + (f" {_esc(row.message)}" if row.message else "")),
        ("objective", _esc(objective.describe())),
        ("search space", _esc(space_txt)),
        ("oracle / model / acquisition", _esc(f"{(spec.get('oracle') or {}).get('kind')} / "
                                              f"{(spec.get('model') or {}).get('kind', 'gp')} / "
                                              f"{(spec.get('acquisition') or {}).get('kind', 'ei')} "
                                              f"(batch {(spec.get('acquisition') or {}).get('batch_size', 1)})")),
        ("experiments", _esc(f"{len(exps)}: {count_txt}")),
        ("budget", _esc(budget_txt)),
    ]
    if best is not None:
        best_html = (f"<b>{_esc(_fmt(best.value))}</b> at experiment #{best.seq + 1} "
                     f"(<code>{_esc(best.id)}</code>): {_esc(_fmt_params(best.params))}")
        kv.append((f"best {objective.name}", best_html))
    else:
        kv.append((f"best {objective.name}", "none yet (no experiment has succeeded)"))
    kv += [
        ("step timings", _esc(timing_txt)),
        ("created / updated", _esc(f"{_dt(row.created_at)} / {_dt(row.updated_at)}")),
        ("store", f"<code>{_esc(url)}</code>"),
    ]
    kv_html = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in kv)
    notes_html = ""
    if notes:
        notes_html = "<div class=\"note\"><b>Missing or skipped:</b><ul>" + "".join(
            f"<li>{_esc(n)}</li>" for n in notes) + "</ul></div>"
    nav = "".join(f'<a href="#{s.anchor}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{_esc(s.title)}</h2>{s.body}</section>' for s in sections)
    desc = f'<p class="sub">{_esc(spec.get("description"))}</p>' if spec.get("description") else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>looplab report: {_esc(row.name)}</title><style>{CSS}</style></head><body>"
            f"<h1>Campaign {_esc(row.name)}</h1>{desc}<table class=\"kv\">{kv_html}</table>{notes_html}"
            f"<nav>{nav}</nav>{body}"
            f"<footer>Written by <code>looplab report</code> on {_esc(_dt(now))} from {_esc(url)}.</footer>"
            f"</body></html>\n")


# ----------------------------------------------------------------------------- opening the store


__all__ = ["write_report", "loo_closed_form", "model_loo", "parity_metrics", "fit_model", "ReportResult",
           "Objective", "best_so_far"]
