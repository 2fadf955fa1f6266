"""``looplab report``: the page and its pictures for real campaigns, leave-one-out checked by refits, errors."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ALLOY_POOL, ROOT, alloy_yaml, write_campaign
from orchestrator.cli import app
from orchestrator.config import load_campaign
from orchestrator.engine import Engine
from orchestrator.report import (
    PNG_NAMES,
    Objective,
    best_so_far,
    loo_closed_form,
    model_loo,
    parity_metrics,
)
from orchestrator.store import Store

runner = CliRunner()

BRANIN = """
name: branin-report
seed: 7
space:
  parameters:
    - {name: x1, type: float, low: -5.0, high: 10.0}
    - {name: x2, type: float, low: 0.0, high: 15.0}
objective: {name: value, goal: min}
oracle: {kind: function, params: {function: branin}}
model: {kind: gp, params: {restarts: 1}}
initial: {n: 5, method: sobol}
budget: {max_experiments: 12}
"""

ALL_FAIL = """
name: all-fail
seed: 1
space:
  parameters:
    - {name: x1, type: float, low: 0.0, high: 1.0}
objective: {name: value, goal: max}
oracle: {kind: "oracles_for_tests:Garbage"}
initial: {n: 4, method: sobol}
budget: {max_experiments: 4}
"""


def _run(store: Store, path: Path) -> Engine:
    engine = Engine(load_campaign(path), store)
    engine.run(poll_interval=0.01)
    return engine


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A 2-D continuous GP campaign, a pool campaign (random forest), one whose every experiment
    failed, and a pool campaign whose pool file is then deleted; all in one store."""
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp / 'report.db'}"
    store = Store(url)
    _run(store, write_campaign(tmp, BRANIN, "branin.yaml"))
    forest = "random-forest, params: {n_estimators: 40}"  # small forests: the report refits one per point
    _run(store, write_campaign(tmp, alloy_yaml(name="alloy-report", budget=10, model=forest), "alloy.yaml"))
    _run(store, write_campaign(tmp, ALL_FAIL, "fail.yaml"))
    moved = tmp / "moved"
    moved.mkdir()
    lines = ALLOY_POOL.read_text().splitlines()
    (moved / "pool.csv").write_text("\n".join(lines[:80]) + "\n")
    text = alloy_yaml(name="moved-pool", budget=6, model=forest).replace(str(ALLOY_POOL), "pool.csv")
    _run(store, write_campaign(moved, text, "moved.yaml"))
    (moved / "pool.csv").unlink()
    return tmp, url, store


@pytest.fixture(scope="module")
def branin_report(finished, tmp_path_factory):
    _, url, _ = finished
    out = tmp_path_factory.mktemp("branin-report")
    return _report(url, "branin-report", out), out


def _report(url: str, name: str, out: Path):
    return runner.invoke(app, ["report", name, "--store", url, "--out", str(out)])


def _assert_png(path: Path) -> tuple[int, int]:
    """A well-formed PNG: signature, IHDR first, IEND last, every chunk's CRC right. Returns (width, height)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}"
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds, path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _self_contained(page: str) -> list[bytes]:
    """Assert the page needs nothing from outside; return its embedded images."""
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", page, re.I)
    assert "<link" not in page.lower() and "<script" not in page.lower()
    assert "url(" not in page  # no CSS fetches either
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    return [base64.b64decode(s.split(",", 1)[1]) for s in srcs]


# ----------------------------------------------------------------------------- the page of real campaigns


def test_report_of_a_continuous_gp_campaign(finished, branin_report):
    store = finished[2]
    result, out = branin_report
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out / "report.html")
    page = (out / "report.html").read_text()
    images = _self_contained(page)
    for name in PNG_NAMES:
        w, h = _assert_png(out / name)
        assert w >= 400 and h >= 250, (name, w, h)
    assert sorted(images) == sorted((out / n).read_bytes() for n in PNG_NAMES)  # the page holds these files
    row = store.get_campaign("branin-report")
    done = [e for e in store.experiments(row.id) if e.status == "succeeded"]
    best = min(done, key=lambda e: e.value)
    assert best.id in page and f"{best.value:.6g}" in page
    assert "exact leave-one-out" in page and "R²" in page and "RMSE" in page
    assert "12 succeeded" in page and "12 of 12 experiments used" in page
    assert "median model fit" in page
    # the top table ranks the best 10 by value, best first
    table = page[page.index('id="top"'):]
    ids = re.findall(r"<code>(branin-report-[0-9-]+)</code>", table)[:10]
    assert ids == [e.id for e in sorted(done, key=lambda e: (e.value, e.seq))][:10]


def test_report_of_a_pool_campaign_draws_the_composition_triangle(finished, tmp_path):
    _, url, _ = finished
    out = tmp_path / "alloy"
    result = _report(url, "alloy-report", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    _self_contained(page)
    for name in ("best_so_far.png", "timeline.png", "parity.png", "model.png"):
        _assert_png(out / name)
    assert "leave-one-out by 10 refits" in page  # a random forest is refitted, not solved in closed form
    assert "Ternary coordinates" in page and "x_Cu" in page


def test_report_without_any_succeeded_experiment_says_what_is_missing(finished, tmp_path):
    _, url, _ = finished
    out = tmp_path / "fail"
    result = _report(url, "all-fail", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "No experiment has succeeded yet" in page
    assert "need at least 3 succeeded experiments" in page
    assert "4 failed" in page and "Failed experiments" in page
    _assert_png(out / "best_so_far.png")
    _assert_png(out / "timeline.png")
    assert not (out / "parity.png").exists() and not (out / "model.png").exists()
    assert "Traceback" not in result.output


def test_report_when_the_pool_file_is_gone_says_so_and_keeps_the_rest(finished, tmp_path):
    _, url, _ = finished
    out = tmp_path / "moved"
    result = _report(url, "moved-pool", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "pool file is no longer where the stored spec says" in page and "pool.csv" in page
    assert "pool file is no longer" in result.stderr
    _assert_png(out / "best_so_far.png")
    assert not (out / "parity.png").exists()


def test_an_oracle_plugin_missing_here_does_not_stop_the_model_sections(finished, tmp_path):
    """A lab's oracle package need not be installed where the report is written."""
    from oracles.base import Result
    from orchestrator.store import Experiment

    _, url, store = finished
    src = store.get_campaign("branin-report")
    spec = dict(src.spec, name="gone-oracle", oracle={"kind": "no_such_lab.oracles:Robot", "params": {}})
    row = store.create_campaign("gone-oracle", spec, src.base_dir)
    done = [e for e in store.experiments(src.id) if e.status == "succeeded"]
    store.add_experiments(row.id, [Experiment(id=f"gone-oracle-0000-{i:02d}", seq=-1, step=0, position=i,
                                              params=e.params, status="proposed") for i, e in enumerate(done)])
    store.record_results(row.id, [Result(f"gone-oracle-0000-{i:02d}", "succeeded", value=e.value)
                                  for i, e in enumerate(done)])
    out = tmp_path / "gone"
    result = _report(url, "gone-oracle", out)
    assert result.exit_code == 0, result.output
    _assert_png(out / "parity.png")
    _assert_png(out / "model.png")


def test_a_second_report_removes_pictures_it_no_longer_draws(finished, branin_report, tmp_path):
    import shutil

    _, url, _ = finished
    out = tmp_path / "same"
    shutil.copytree(branin_report[1], out)
    assert (out / "parity.png").exists()
    assert _report(url, "all-fail", out).exit_code == 0
    assert not (out / "parity.png").exists()


# ----------------------------------------------------------------------------- errors


def test_unknown_campaign_suggests_close_names(finished, tmp_path):
    _, url, _ = finished
    result = _report(url, "branin-reprot", tmp_path / "x")
    assert result.exit_code == 2
    assert "no campaign named 'branin-reprot'" in result.output
    assert "Did you mean branin-report" in result.output and "alloy-report" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nowhere" / "typo.db"
    result = runner.invoke(app, ["report", "x", "--store", f"sqlite:///{missing}"])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not missing.exists()  # a mistyped path does not leave an empty database behind
    result = runner.invoke(app, ["report", "x", "--store", "nosuchdb://host/db"])
    assert result.exit_code == 2 and "--store" in result.output
    assert "Traceback" not in result.output


def test_an_unwritable_out_folder_is_one_line_and_exit_2(finished, tmp_path):
    _, url, _ = finished
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _report(url, "all-fail", blocker / "sub")
    assert result.exit_code == 2 and "--out" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("out, said", [
    ("", "--out: is empty; give the folder to write an HTML page and its PNG plots into"),
    ("-", "--out: '-' is not a folder; this command writes an HTML page and its PNG plots"),
])
def test_an_empty_or_dash_out_is_refused(finished, tmp_path, monkeypatch, out, said):
    """Fuzz round thirteen: --out "" (an unset variable) wrote the report into the current folder, and --out -
    made a folder named '-'."""
    _, url, _ = finished
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    result = runner.invoke(app, ["report", "all-fail", "--store", url, "--out", out])
    assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
    assert sorted(tmp_path.iterdir()) == before


def test_an_mplbackend_that_names_no_backend_still_gives_the_plots(finished, tmp_path):
    """Fuzz round thirteen: MPLBACKEND=nonsense made matplotlib's import fail, and the report exited 0 with no
    plot, five notes quoting matplotlib and none naming the variable. The plots are files: Agg draws them."""
    import os

    _, url, _ = finished
    env = dict(os.environ, MPLBACKEND="nonsense")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "report", "alloy-report", "--store", url, "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "$MPLBACKEND is 'nonsense', which names no matplotlib backend: the plots were drawn with Agg" in \
        " ".join(proc.stderr.split()) and "could not be drawn" not in proc.stderr, proc.stderr
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_a_report_replaces_its_own_files_only(finished, tmp_path):
    """Fuzz round thirteen: report --out into a folder of the user's replaced their own report.html and
    model.png without a word. An earlier looplab report is replaced whole; another program's page or PNG by
    one of the report's names is refused, and kept."""
    _, url, _ = finished
    out = tmp_path / "r"
    assert _report(url, "alloy-report", out).exit_code == 0
    assert b"looplab report" in (out / "best_so_far.png").read_bytes()[:4096]
    assert _report(url, "alloy-report", out).exit_code == 0  # its own files: replaced
    for name, content in [("report.html", b"<html><title>my notes</title></html>"), ("model.png", b"\x89PNG mine")]:
        mine = tmp_path / f"mine-{name}"
        mine.mkdir()
        (mine / name).write_bytes(content)
        result = _report(url, "alloy-report", mine)
        assert result.exit_code == 2 and "--out: " in result.output and "not" in result.output, result.output
        assert (mine / name).read_bytes() == content and not (mine / "best_so_far.png").exists()


@pytest.mark.parametrize("fails", ["timeline.png", "report.html"])
def test_a_full_disk_leaves_no_partial_file_and_the_next_report_works(finished, tmp_path, monkeypatch, fails):
    """Fuzz F7: on a nearly full disk the report failed writing report.html but left .report.html.tmp (0 B), an
    empty timings.png and a truncated relevance.png, and the report run again once space was freed refused them
    as not its own. Each file is written to a temporary one and moved into place when complete; a failure to
    write is one error line (exit 2) and leaves none of the report's files, so the next report works."""
    import errno
    from matplotlib.figure import Figure

    _, url, _ = finished
    out = tmp_path / "rep"
    real_savefig, real_write_bytes = Figure.savefig, Path.write_bytes

    def full(path, written):  # a disk that fills up part way through the file
        with open(path, "wb") as fh:
            fh.write(written[:len(written) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def savefig(self, fname, *args, **kwargs):
        if fails == "timeline.png" and "timeline" in str(fname):  # the 2nd plot; best_so_far.png was complete
            full(fname, b"\x89PNG\r\n\x1a\n" + b"\0" * 12288)
        return real_savefig(self, fname, *args, **kwargs)

    def write_bytes(self, data):
        if fails == "report.html" and "report.html" in self.name:
            full(self, data)
        return real_write_bytes(self, data)

    with monkeypatch.context() as m:
        m.setattr(Figure, "savefig", savefig)
        m.setattr(Path, "write_bytes", write_bytes)
        result = _report(url, "all-fail", out)
    assert sorted(p.name for p in out.iterdir()) == []  # no partial, temporary or half-report file
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in said, result.output
    assert f"--out: cannot write '{out / fails}' (No space left on device); free some space there or choose " \
           "another folder" in said, result.output
    result = _report(url, "all-fail", out)  # space freed: the same command works
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["best_so_far.png", "report.html", "timeline.png"]
    for name in ("best_so_far.png", "timeline.png"):
        _assert_png(out / name)
    assert len(_self_contained((out / "report.html").read_text())) == 2


def test_help_does_not_import_matplotlib():
    code = ("import sys; from orchestrator.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['report', '--help']); assert r.exit_code == 0, r.output; "
            "bad = [m for m in ('matplotlib', 'tensorflow', 'gpflow') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, f"imported by --help: {proc.stdout} {proc.stderr[-500:]}"


# ----------------------------------------------------------------------------- leave-one-out, checked


def _matern52(A, B, ls, var):
    r = np.sqrt(np.maximum(((A[:, None, :] - B[None, :, :]) / ls) ** 2, 0).sum(-1))
    s = np.sqrt(5.0) * r
    return var * (1 + s + s * s / 3) * np.exp(-s)


def test_closed_form_loo_equals_explicit_refits_with_fixed_hyperparameters():
    rng = np.random.default_rng(0)
    X = rng.random((9, 2))
    z = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    ls, var, noise = np.array([0.3, 0.5]), 1.3, 1e-3
    K = _matern52(X, X, ls, var) + noise * np.eye(len(X))
    mean, v = loo_closed_form(np.linalg.cholesky(K), z)
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        Kt = K[np.ix_(keep, keep)]
        ks = _matern52(X[keep], X[i : i + 1], ls, var)[:, 0]
        m = ks @ np.linalg.solve(Kt, z[keep])
        s2 = var + noise - ks @ np.linalg.solve(Kt, ks)  # a new measurement: latent variance + noise
        assert mean[i] == pytest.approx(m, abs=1e-6)
        assert v[i] == pytest.approx(s2, abs=1e-6)


def test_gp_loo_in_the_models_units_equals_refits_of_its_posterior(finished):
    """model_loo on a fitted GPSurrogate (min goal -> internal = -raw) against N explicit refits that keep
    its hyperparameters and its standardisation."""
    from orchestrator.models.gp import GPSurrogate, Posterior as _Posterior

    rng = np.random.default_rng(1)
    X = rng.random((8, 2))
    raw = 3.0 + 2.0 * np.cos(4 * X[:, 0]) * X[:, 1]
    y = -raw
    gp = GPSurrogate(restarts=0, seed=0).fit(X, y)
    loo = model_loo(gp, X, y, make_model=lambda: pytest.fail("a GP must not be refitted"))
    post, std = gp._post, gp._std
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        ref = _Posterior(post.kind, X[keep], post.z[keep], post.ls, post.var, post.noise)
        m, v = ref.predict(X[i : i + 1])
        assert loo.mean[i] == pytest.approx(m[0] * std.std + std.mean, abs=1e-6)
        assert loo.var[i] == pytest.approx((v[0] + post.noise) * std.std**2, abs=1e-6)


class _LeastSquares:
    """A model whose leave-one-out residuals are known in closed form: e_i / (1 - h_ii)."""

    def fit(self, X, y):
        self.A = np.column_stack([np.ones(len(X)), X])
        self.w = np.linalg.lstsq(self.A, y, rcond=None)[0]
        return self

    def predict(self, X):
        return np.column_stack([np.ones(len(X)), X]) @ self.w, np.full(len(X), 0.25)


def test_refit_loo_of_other_models_matches_the_hat_matrix_identity():
    rng = np.random.default_rng(2)
    X = rng.random((12, 2))
    y = 1.0 + X @ np.array([2.0, -1.0]) + 0.1 * rng.standard_normal(12)
    full = _LeastSquares().fit(X, y)
    loo = model_loo(full, X, y, make_model=_LeastSquares)
    A = full.A
    H = A @ np.linalg.solve(A.T @ A, A.T)
    e = y - H @ y
    np.testing.assert_allclose(y - loo.mean, e / (1 - np.diag(H)), atol=1e-9)
    assert "leave-one-out by 12 refits" in loo.method


def test_parity_metrics_and_best_so_far_by_hand():
    m = parity_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 3.0]), np.array([0.1, 1, 1, 0.4]))
    assert m.rmse == pytest.approx(np.sqrt(0.5))
    assert m.r2 == pytest.approx(1 - 2 / 5)
    assert m.spearman == pytest.approx(0.8)
    assert m.coverage == pytest.approx(0.75)
    vals = [None, 3.0, 5.0, None, 1.0, 4.2]
    assert best_so_far(vals, Objective("y", "max")) == [None, 3.0, 5.0, 5.0, 5.0, 5.0]
    assert best_so_far(vals, Objective("y", "min")) == [None, 3.0, 3.0, 3.0, 1.0, 1.0]
    # a tie in distance to the target keeps the earlier value
    assert best_so_far(vals, Objective("y", "target", 4.0)) == [None, 3.0, 3.0, 3.0, 3.0, 4.2]


def test_the_report_model_is_the_engines_model_under_an_output_transform(tmp_path):
    """With model.transform the engine fits warp(internal(raw)). The report must fit the same thing: the
    candidate its acquisition ranks first is the one the engine's next step would propose, and its plots
    are labelled with the transform (copula of -mixing_energy: the goal is min), not the raw objective."""
    from orchestrator.proposer import step_rng
    from orchestrator.report import fit_model

    store = Store(f"sqlite:///{tmp_path / 'copula.db'}")
    text = alloy_yaml(name="copula-report", budget=9, model="gp, transform: copula").replace(
        "{kind: ei,", "{kind: ucb, params: {beta: 0.3},")
    _run(store, write_campaign(tmp_path, text, "copula.yaml"))
    row = store.get_campaign("copula-report")
    exps = store.experiments(row.id)
    view = fit_model(row, store, exps)
    proposer, space = view.proposer, view.campaign.space
    raw = np.array([e.value for e in view.exps])
    assert np.allclose(view.y, proposer.warp(proposer.internal(raw)))
    assert not np.allclose(view.y, proposer.internal(raw))  # the transform does change the values
    assert view.display.label == "copula(−mixing_energy)" and "model.transform: copula" in view.display.note()

    step = max(e.step for e in exps) + 1
    nxt = proposer.propose(observed=[e.params for e in view.exps], values=raw, busy=[],
                           used=[e.params for e in exps], n=1, step=step, rng=step_rng(row.spec["seed"], step),
                           warm_state=store.latest_snapshot(row.id))
    taken = {space.index_of(e.params) for e in exps}
    free = np.array([i for i in range(space.size) if i not in taken])
    acq = view.acquisition(space.X[free])
    assert space.index_of(nxt.params[0]) == free[int(np.argmax(acq))]

    result = _report(store.url, "copula-report", tmp_path / "out")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert "copula(−mixing_energy)" in page and "model.transform: copula" in page


def test_names_the_plots_font_cannot_draw_are_one_note_and_a_constant_objective_no_warning(tmp_path):
    """Found by the fuzz round of 2026-12-04 (evening): CJK names printed a matplotlib warning per glyph
    (with source lines), and results all equal printed scipy's ConstantInputWarning."""
    import warnings

    url = f"sqlite:///{tmp_path / 'r.db'}"
    spec = write_campaign(tmp_path, """
name: cjk
seed: 1
space:
  parameters:
    - {name: 温度, type: float, low: 0.0, high: 1.0}
    - {name: 时间, type: float, low: 0.0, high: 1.0}
objective: {name: 收率, goal: max}
oracle: {kind: function, params: {function: sphere}}
model: {kind: random-forest, params: {n_estimators: 20}}
initial: {n: 4, method: sobol}
budget: {max_experiments: 6}
""", "cjk.yaml")
    _run(Store(url), spec)
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "report", "cjk", "--store", url, "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "Glyph" not in proc.stderr, proc.stderr
    assert "note the plots' font has no glyph for some characters of the names (" in proc.stderr + proc.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a constant input to spearmanr warned
        m = parity_metrics(np.full(4, 2.0), np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4))
    assert np.isnan(m.spearman)
