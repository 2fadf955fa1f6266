"""`looplab benchmark`: the protocol's metrics by hand, the command end to end, and its input errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import CAMPAIGNS, DATASETS, write_campaign
from typer.testing import CliRunner

from orchestrator.benchmark import (
    RANDOM_STRATEGY,
    parse_strategies,
    parse_strategy,
    prepare,
    run_job,
    run_metrics,
    summarize,
    top_set,
)
from orchestrator.cli import app
from orchestrator.errors import ConfigError

runner = CliRunner()

# ----------------------------------------------------------------------------- metrics by hand

# 40 rows, goal max: the top set is ceil(0.05 * 40) = 2 rows, 38 and 39 (values 38 and 39).
VALUES = np.arange(40, dtype=float)
PICKS = [5, 10, 39, 1, 2, 3, 4, 6, 7, 38]  # a top row at experiments 3 and 10


def test_top_set_is_the_best_five_percent_for_each_goal():
    assert top_set(VALUES, "max").tolist() == [38, 39]
    assert top_set(VALUES, "min").tolist() == [0, 1]
    assert top_set(VALUES, "target", target=20.2).tolist() == [20, 21]
    assert len(top_set(np.arange(41.0), "max")) == 3  # ceil(2.05)
    assert len(top_set(np.arange(3.0), "max")) == 1


def test_top_fraction_ef_and_af_match_hand_computed_values():
    m = run_metrics(PICKS, VALUES, "max")
    assert m["top_fraction"] == [0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0]
    # EF(i) = Top%(i) / (i / N)
    assert m["ef"][:2] == [0, 0]
    assert m["ef"][2] == pytest.approx(0.5 / (3 / 40))  # 6.67
    assert m["ef"][8] == pytest.approx(0.5 / (9 / 40))
    assert m["ef"][9] == pytest.approx(1.0 / (10 / 40))  # 4
    # random needs ceil(0.5 * 40) = 20 experiments for Top% 0.5; this run needed 3
    assert m["experiments_to_threshold"] == {"0.5": 3, "0.8": 10}
    assert m["af"]["0.5"] == pytest.approx(20 / 3)
    assert m["af"]["0.8"] == pytest.approx(32 / 10)
    assert m["experiments_to_best"] == 3
    assert m["best_so_far"] == [5, 10, 39, 39, 39, 39, 39, 39, 39, 39]


def test_min_goal_and_runs_that_never_get_there():
    # the same run on the mirrored pool with goal min is the same run
    m = run_metrics(PICKS, 39 - VALUES, "min")
    assert m["top_fraction"][-1] == 1.0 and m["af"]["0.5"] == pytest.approx(20 / 3)
    assert m["best_so_far"][:3] == [34, 29, 0]
    # no top row found: null AF and null experiments to the best
    miss = run_metrics([0, 1, 2, 3], VALUES, "max")
    assert miss["top_fraction"] == [0, 0, 0, 0]
    assert miss["af"] == {"0.5": None, "0.8": None}
    assert miss["experiments_to_best"] is None
    # the second-best only: half the top set, the best never found
    half = run_metrics([38, 0], VALUES, "max")
    assert half["top_fraction"] == [0.5, 0.5] and half["af"]["0.8"] is None
    assert half["experiments_to_best"] is None


def test_summary_aggregates_af_over_the_seeds_that_reached_it():
    runs = []
    for picks in (PICKS, [39, 38] + PICKS[:8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]):
        runs.append({**run_metrics(picks, VALUES, "max"), "wall_seconds": 1.0})
    s = summarize(runs)
    assert s["af"]["0.5"]["n"] == 2 and s["af"]["0.5"]["n_seeds"] == 3
    assert s["af"]["0.5"]["median"] == pytest.approx((20 / 3 + 20 / 1) / 2)
    assert s["experiments_to_best"]["n"] == 2 and s["experiments_to_best"]["median"] == pytest.approx(2.0)
    assert len(s["top_fraction"]["median"]) == 10
    assert s["top_fraction"]["median"][2] == 0.5 and s["top_fraction"]["p95"][1] == pytest.approx(0.9)  # numpy linear: 0.95 * 2 = 1.9 between [0, 0, 1]
    assert s["wall_seconds"]["total"] == 3.0


def test_strategy_strings():
    s = parse_strategy("gp:ucb(beta=4):2")
    assert (s.model, s.acquisition, s.batch_size, s.acquisition_params) == ("gp", "ucb", 2, {"beta": 4})
    assert s.name == "gp:ucb(beta=4):2"
    assert parse_strategy("random-forest:ei").batch_size == 1
    default = parse_strategy("gp(restarts=3):ei:1")
    many = parse_strategies("gp:ei:1, random-forest:ei:1,gp:ucb(beta=4,):1,random", default)
    assert [m.name for m in many] == ["gp:ei:1", "random-forest:ei:1", "gp:ucb(beta=4):1"]
    assert many[0].model_params == {"restarts": 3}  # same model kind: the campaign's params are kept
    for bad in ("gp", "gp:ei:0", "gp:ei:x", "gp:ei:1:2", "g p:ei:1", "gp:ucb(beta):1", "gp:ucb(beta=1,beta=2):1"):
        with pytest.raises(ConfigError) as exc:
            parse_strategy(bad)
        assert str(exc.value).startswith("--strategies:")


# ----------------------------------------------------------------------------- the command


def _tiny_pool(tmp_path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(3)
    X = np.round(rng.random((n, 2)), 4)
    y = np.sin(3 * X[:, 0]) + np.cos(2 * X[:, 1]) - (X[:, 0] - 0.6) ** 2
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,y\n" + "".join(f"{a},{b},{v:.6f}\n" for (a, b), v in zip(X, y)))
    return path


def _spec(tmp_path: Path, pool: Path, *, goal: str = "max", model: str = "gp", params: str = "{}") -> Path:
    return write_campaign(tmp_path, f"""
name: tiny
space: {{pool: {{path: {pool.name}, inputs: [a, b]}}}}
objective: {{name: y, goal: {goal}}}
oracle: {{kind: lookup}}
model: {{kind: {model}, params: {params}}}
acquisition: {{kind: ei}}
initial: {{n: 2, method: random}}
budget: {{max_experiments: 10}}
""", name="tiny.yaml")


def test_benchmark_command_writes_json_and_plots(tmp_path):
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    out = tmp_path / "out"
    result = runner.invoke(app, ["benchmark", str(spec), "--dataset", str(pool), "--seeds", "2", "--budget", "10",
                                 "--strategies", "gp:ei:1,random-forest:ei:1", "--workers", "1", "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "gp:ei:1" in result.output and "random-forest:ei:1" in result.output and "Top% @10" in result.output
    data = json.loads((out / "benchmark.json").read_text())
    for key in ("looplab_version", "created", "spec", "campaign", "dataset", "inputs", "objective", "goal",
                "target_value", "n_pool", "top_set_size", "top_set", "best_value", "best_row", "budget", "seeds",
                "initial", "initial_method", "workers", "thresholds", "random_af_experiments", "experiments",
                "random_top_fraction", "wall_seconds", "strategies"):
        assert key in data, key
    assert data["n_pool"] == 40 and data["top_set_size"] == 2 and data["budget"] == 10
    assert data["seeds"] == [0, 1] and data["inputs"] == ["a", "b"] and data["objective"] == "y"
    assert data["random_af_experiments"] == {"0.5": 20, "0.8": 32}
    assert data["random_top_fraction"][-1] == pytest.approx(10 / 40)
    assert [s["name"] for s in data["strategies"]] == ["gp:ei:1", "random-forest:ei:1", "random"]
    for s in data["strategies"]:
        assert len(s["runs"]) == 2
        for r in s["runs"]:
            assert len(r["picks"]) == len(set(r["picks"])) == 10
            for key in ("values", "top_fraction", "ef", "best_so_far"):
                assert len(r[key]) == 10, key
            assert set(r["af"]) == set(r["experiments_to_threshold"]) == {"0.5", "0.8"}
            assert "experiments_to_best" in r and r["wall_seconds"] >= 0
        for key in ("top_fraction", "ef", "best_so_far"):
            assert set(s["summary"][key]) == {"median", "mean", "p5", "p95"}
            assert len(s["summary"][key]["median"]) == 10
        assert set(s["summary"]["af"]["0.5"]) == {"median", "mean", "p5", "p95", "n", "n_seeds"}
    # every strategy starts from the same random initial design for a seed
    firsts = {tuple(s["runs"][0]["picks"][:2]) for s in data["strategies"]}
    assert len(firsts) == 1
    for name in ("top_fraction.png", "ef.png", "best_so_far.png"):
        blob = (out / name).read_bytes()
        assert blob.startswith(b"\x89PNG\r\n\x1a\n") and len(blob) > 5000, name


def test_runs_choose_what_looplab_run_chooses(tmp_path, store_url):
    """The in-memory runs pick the same pool rows in the same order as the engine on the same campaign."""
    from orchestrator.config import load_campaign
    from orchestrator.engine import Engine
    from orchestrator.store import Store

    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool, goal="min", model="random-forest", params="{n_estimators: 20}")
    setup = prepare(spec, dataset=None, seeds=1, budget=8, strategies=None, initial=2, workers=1)
    picks = run_job(setup, setup.strategies[0], 5)["picks"]
    text = spec.read_text().replace("name: tiny", "name: tiny\nseed: 5").replace("max_experiments: 10",
                                                                                 "max_experiments: 8")
    campaign = load_campaign(write_campaign(tmp_path, text, name="engine.yaml"))
    engine = Engine(campaign, Store(store_url))
    engine.run()
    exps = engine.store.experiments(engine.id)
    assert [campaign.space.index_of(e.params) for e in exps] == picks
    rand = run_job(setup, RANDOM_STRATEGY, 5)["picks"]
    assert rand[:2] == picks[:2] and len(set(rand)) == 8


def test_parallel_workers_give_the_same_runs(tmp_path):
    from orchestrator.benchmark import run_benchmark

    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool, model="random-forest", params="{n_estimators: 10}")
    one = prepare(spec, dataset=None, seeds=2, budget=5, strategies=None, initial=2, workers=1)
    two = prepare(spec, dataset=None, seeds=2, budget=5, strategies=None, initial=2, workers=2)
    a, b = run_benchmark(one), run_benchmark(two)
    assert [[r["picks"] for r in s["runs"]] for s in a["strategies"]] == \
           [[r["picks"] for r in s["runs"]] for s in b["strategies"]]


def test_first_seed_runs_fresh_seeds_exactly_as_a_longer_run_would(tmp_path):
    """--first-seed K runs seeds K..K+N-1; a seed's run does not depend on which others run with it."""
    from orchestrator.benchmark import run_benchmark

    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool, model="random-forest", params="{n_estimators: 10}")
    fresh = run_benchmark(prepare(spec, dataset=None, seeds=2, budget=6, strategies=None, initial=2, workers=1,
                                  first_seed=3))
    # the campaign's own strategy is named with the params it runs with
    assert fresh["strategies"][0]["name"] == "random-forest(n_estimators=10):ei:1"
    longer = run_benchmark(prepare(spec, dataset=None, seeds=5, budget=6, strategies=None, initial=2, workers=1))
    from orchestrator.benchmark import seeds_text

    assert seeds_text(fresh["seeds"]) == "2 seeds (3-4)" and seeds_text(longer["seeds"]) == "5 seeds"
    assert fresh["seeds"] == [3, 4] and [r["seed"] for r in fresh["strategies"][0]["runs"]] == [3, 4]
    for a, b in zip(fresh["strategies"], longer["strategies"]):
        assert [r["picks"] for r in a["runs"]] == [r["picks"] for r in b["runs"][3:]]


@pytest.mark.parametrize("args, field, words", [
    (["--budget", "41"], "--budget", "exceeds the pool size (40 candidates)"),
    (["--seeds", "0"], "--seeds", "must be at least 1"),
    (["--first-seed", "-1"], "--first-seed", "must be 0 or more (got -1)"),
    (["--strategies", "gpp:ei:1"], "--strategies", "unknown model kind 'gpp'; did you mean 'gp'? installed: gp, physics-gp, pinn, random-forest, transfer"),
    (["--strategies", "gp:eii:1"], "--strategies", "unknown acquisition kind 'eii'"),
    (["--strategies", "gp:ucb(bta=4):1"], "--strategies", "acquisition.params.bta: unknown key"),
    (["--dataset", "missing.csv"], "--dataset", "file not found"),
    (["--dataset", "SHORT"], "--dataset", "has 2 row(s); a benchmark needs at least 3"),
    (["--dataset", "FOLDER"], "--dataset", "is a folder, not a CSV file"),
    (["--reach", "nan"], "--reach", "must be a finite number"),
    (["--reach", "3"], "--reach", "is reported with --transfer-fraction only"),
    # found by the fuzz round of 2026-12-03: a MemoryError, an UnboundLocalError, a seed blamed on the file,
    # infinite and oversized strategies accepted
    (["--seeds", "100000000000"], "--seeds", "is more than a benchmark can run (100,000 at most"),
    (["--seeds", "3", "--first-seed", "4294967295"], "--first-seed", "seeds 4294967295 to 4294967297 run past"),
    (["--strategies", " , "], "--strategies", "names no strategy"),
    (["--strategies", "random"], "--strategies", "names only random search"),
    (["--strategies", "gp:ucb(beta=inf):1"], "--strategies", "acquisition.params.beta: must be a finite number"),
    (["--strategies", "gp:ei:11"], "--strategies", "its batch of 11 exceeds the budget of 10"),
    # fuzz round fifteen: parentheses that merged two strategies, digits int() reads but a person would not
    # write, an empty value, a value thousands of characters long, a line break, a kind in capitals, a whole
    # budget of random initial experiments
    (["--strategies", "gp(n=1:ei:1,gp:ei:1"], "--strategies", "1 '(' never closed"),
    (["--strategies", "gp:ei):1"], "--strategies", "the ')' at character 6 closes no '('"),
    (["--strategies", "gp:ei:1_0"], "--strategies", "the batch size must be a whole number >= 1 (got '1_0')"),
    (["--strategies", "gp:ei:\u0662"], "--strategies", "the batch size must be a whole number >= 1"),
    (["--strategies", "gp(noise=):ei:1"], "--strategies", "model param 'noise' has no value after '='"),
    (["--strategies", "gp:ucb(beta=" + "9" * 300 + "):1"], "--strategies",
     "acquisition param 'beta': its value is 300 characters long ('99999999999999999999...')"),
    (["--strategies", "gp:ei:1\ngp:ucb:1"], "--strategies", "holds a line break"),
    (["--strategies", "gp:EI:1"], "--strategies", "unknown acquisition kind 'EI'; did you mean 'ei'?"),
    (["--initial", "10"], "--initial", "10 initial experiments are the whole budget"),
    # fuzz round nineteen: a strategy's model params are its own, the file's are not read: say so
    (["--strategies", "pinn:ei:1"], "--strategies", "model.params.physics: required field is missing; a strategy "
                                                    "does not take the campaign file's model params: give it in the "
                                                    "strategy, e.g. pinn(physics=...)"),
    # fuzz round twenty: beta=1_0 ran as beta=10; beta=1e-400 was told to remove quotes it did not have
    (["--strategies", "gp:ucb(beta=1_0):1"], "--strategies", "acquisition.params.beta: must be a number, not the "
                                                             "string '1_0' (YAML reads digits grouped with '_' as "
                                                             "text: write 10)"),
    (["--strategies", "pkg.mod:Class:ei:1"], "--strategies", "expected model:acquisition:batch, e.g. gp:ei:1 or "
                                                             "random-forest:ucb(beta=4):2; a strategy names its "
                                                             "model and acquisition by their installed kinds"),
    (["--strategies", "gp:ucb(beta=1e-400):1"], "--strategies", "acquisition param 'beta': 1e-400 is too small for "
                                                                "a number (below 5e-324 it would be read as 0)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, field, words):
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    short = tmp_path / "short.csv"
    short.write_text("a,b,y\n1,2,3\n2,3,4\n")
    named = {"SHORT": str(short), "missing.csv": str(tmp_path / "missing.csv"), "FOLDER": str(tmp_path)}
    args = [named.get(a, a) for a in args]
    result = runner.invoke(app, ["benchmark", str(spec), "--workers", "1", "--budget", "10", "--out",
                                 str(tmp_path / "o"), *args], env={"COLUMNS": "300"})  # a later --budget wins
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error {field}: ") and words in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_an_initial_design_larger_than_the_pool_names_the_option_that_set_it(tmp_path):
    """Found by the fuzz round of 2026-12-04 (evening): the problem was blamed on the file's initial.n, and
    quoted --initial's value as the file's."""
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    result = runner.invoke(app, ["benchmark", str(spec), "--workers", "1", "--budget", "42", "--initial", "41",
                                 "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "error --initial: is more than the pool's 40 candidates (got 41); lower --initial" in result.output
    assert "initial.n" not in result.output, result.output


def test_initial_0_runs_with_no_initial_design(tmp_path):
    """Fuzz round eleven: `--initial 0` (documented: no initial design) was refused with an error about the
    file's initial.method, since the benchmark set method: random beside n: 0 (refused since round ten)."""
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool, model="random-forest")
    out = tmp_path / "o"
    result = runner.invoke(app, ["benchmark", str(spec), "--workers", "1", "--seeds", "1", "--budget", "4",
                                 "--initial", "0", "--out", str(out)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    data = json.loads((out / "benchmark.json").read_text())
    assert data["initial"] == 0 and len(data["strategies"][0]["runs"][0]["picks"]) == 4


def test_a_datasets_own_problems_name_the_dataset_option(tmp_path):
    """Fuzz round thirteen: a --dataset whose objective is the same on every row was charged to the spec file's
    oracle.params.column, which the file does not set, asking 'is it the right column?'."""
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    flat = tmp_path / "flat.csv"
    flat.write_text("a,b,y\n" + "".join(f"{k / 40},{k % 7 / 7},1\n" for k in range(40)))
    result = runner.invoke(app, ["benchmark", str(spec), "--dataset", str(flat), "--workers", "1", "--budget", "5",
                                 "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "error --dataset: the objective column 'y' of flat.csv holds the same value (1) in all 40 rows" in \
        result.output and "with --dataset the objective is its last column" in result.output, result.output
    assert "oracle.params" not in result.output


@pytest.mark.parametrize("out, said", [
    ("", "--out: is empty; give the folder to write benchmark.json and its plots into"),
    ("-", "--out: '-' is not a folder"),
    ("ro", "--out: the folder 'ro' cannot be written ("),
])
def test_an_output_folder_that_cannot_take_the_results_is_refused_before_the_runs(tmp_path, monkeypatch, out, said):
    """Fuzz round thirteen: --out "" wrote into the current folder, --out - made a folder named '-', and an
    existing folder that cannot be written failed after every seed had run (hours, for a real benchmark)."""
    import os
    import tempfile

    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    if out == "ro" and os.geteuid() == 0:  # root writes into a read-only folder: make its writes fail instead
        real = tempfile.NamedTemporaryFile

        def refused(*a, **k):
            if str(k.get("dir", "")) == "ro":
                raise PermissionError(1, "Operation not permitted")
            return real(*a, **k)

        monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)
    before = sorted(tmp_path.iterdir())
    result = runner.invoke(app, ["benchmark", str(spec), "--workers", "1", "--seeds", "1", "--budget", "4",
                                 "--out", out], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
    assert sorted(tmp_path.iterdir()) == before


def test_the_campaigns_row_filter_applies_to_a_dataset(tmp_path):
    """Fuzz round thirteen: a campaign whose pool keeps one temperature (where: {T: 105}), benchmarked with a
    --dataset, lost its filter: T became a constant fifth input, and a dataset of other rows ran without a
    word under the campaign's name."""
    rows = "".join(f"{a},{b},{t},{a * b + t / 100:.4f}\n" for t in (90, 105) for a in range(7) for b in range(6))
    (tmp_path / "both.csv").write_text("a,b,T,y\n" + rows)
    (tmp_path / "nine.csv").write_text("a,b,T,y\n" + "".join(r + "\n" for r in rows.splitlines() if ",90," in r))
    (tmp_path / "noT.csv").write_text("a,b,y\n" + "".join(f"{a},{b},{a * b}\n" for a in range(7) for b in range(6)))
    spec = write_campaign(tmp_path, """
name: filtered
space: {pool: {path: both.csv, inputs: [a, b], where: {T: 105}}}
objective: {name: y, goal: max}
oracle: {kind: lookup}
model: {kind: random-forest}
initial: {n: 2, method: random}
budget: {max_experiments: 10}
""", name="filtered.yaml")
    out = tmp_path / "o"
    ok = runner.invoke(app, ["benchmark", str(spec), "--dataset", str(tmp_path / "both.csv"), "--workers", "1",
                             "--seeds", "1", "--budget", "4", "--out", str(out)], env={"COLUMNS": "300"})
    assert ok.exit_code == 0, ok.output
    data = json.loads((out / "benchmark.json").read_text())
    assert data["inputs"] == ["a", "b"] and data["n_pool"] == 42
    for name, said in [("nine.csv", "error --dataset: no row of nine.csv has 105; the column holds 90"),
                       ("noT.csv", "error --dataset: noT.csv has no column 'T', which the campaign's "
                                   "space.pool.where filters on")]:
        r = runner.invoke(app, ["benchmark", str(spec), "--dataset", str(tmp_path / name), "--workers", "1",
                                "--seeds", "1", "--budget", "4", "--out", str(out)], env={"COLUMNS": "300"})
        assert r.exit_code == 2 and said in " ".join(r.output.split()), r.output


@pytest.mark.parametrize("reach, said", [
    ("100", "--reach: no candidate of the pool reaches 100 (its best is "),
    ("-100", "--reach: every candidate of the pool reaches -100 (its worst is "),
])
def test_a_reach_no_candidate_or_every_candidate_reaches_is_refused(tmp_path, reach, said):
    """Fuzz round thirteen: --reach -1e300 on a min pool ran and reported no strategy reaching it, with no
    note, and --reach 1e300 was 'reached' by every first experiment; the pool's values are known."""
    pool = _tiny_pool(tmp_path)
    head, *rows = pool.read_text().splitlines()  # a related source: the same inputs, other values
    (tmp_path / "src.csv").write_text("\n".join([head, *(f"{r.rsplit(',', 1)[0]},{float(r.rsplit(',', 1)[1]) * 0.9:.6f}"
                                                         for r in rows)]) + "\n")
    spec = _spec(tmp_path, pool, model="transfer", params="{method: prior-mean, source: [{path: src.csv, "
                                                          "objective: y}]}")
    result = runner.invoke(app, ["benchmark", str(spec), "--workers", "1", "--seeds", "1", "--budget", "4",
                                 "--transfer-fraction", "0.5", "--reach", reach, "--out", str(tmp_path / "o")],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
    assert not (tmp_path / "o" / "benchmark.json").exists()


def test_a_benchmark_replaces_its_own_files_only(tmp_path):
    """Fuzz round thirteen: benchmark --out a folder holding the user's own benchmark.json and ef.png replaced
    both without a word. An earlier benchmark's folder is replaced; another program's file is refused (before
    any seed runs) and kept."""
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool, model="random-forest")
    args = ["benchmark", str(spec), "--workers", "1", "--seeds", "1", "--budget", "4", "--out"]
    out = tmp_path / "o"
    assert runner.invoke(app, [*args, str(out)]).exit_code == 0
    assert b"looplab benchmark" in (out / "ef.png").read_bytes()[:4096]
    assert runner.invoke(app, [*args, str(out)]).exit_code == 0  # its own: replaced
    for name, content in [("benchmark.json", b'{"mine": 1}'), ("ef.png", b"\x89PNG mine")]:
        mine = tmp_path / f"mine-{name}"
        mine.mkdir()
        (mine / name).write_bytes(content)
        r = runner.invoke(app, [*args, str(mine)], env={"COLUMNS": "300"})
        assert r.exit_code == 2 and "error --out: " in r.output and "choose another folder" in r.output, r.output
        assert (mine / name).read_bytes() == content and len(list(mine.iterdir())) == 1


def test_every_bad_input_is_reported_at_once(tmp_path):
    pool = _tiny_pool(tmp_path)
    spec = _spec(tmp_path, pool)
    result = runner.invoke(app, ["benchmark", str(spec), "--budget", "50", "--strategies",
                                 "gpp:ei:1,gp:ucb(bta=4):1,gp:ei:1"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert [ln.split(":")[0] for ln in lines] == ["error --budget", "error --strategies", "error --strategies"]
    assert "'gpp:ei:1'" in lines[1] and "'gp:ucb(bta=4):1'" in lines[2] and "did you mean 'beta'" in lines[2]


def test_a_negative_first_seed_and_too_many_seeds_are_both_reported(tmp_path):
    spec = _spec(tmp_path, _tiny_pool(tmp_path))
    result = runner.invoke(app, ["benchmark", str(spec), "--budget", "10", "--first-seed", "-1", "--seeds",
                                 "100000000000"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert [ln.split(":")[0] for ln in lines] == ["error --first-seed", "error --seeds"], lines


def test_a_broken_campaign_file_reports_its_fields(tmp_path):
    pool = _tiny_pool(tmp_path)
    spec = write_campaign(tmp_path, f"""
name: tiny
space: {{pool: {{path: {pool.name}, inputs: [a, b]}}}}
objective: {{name: y, goal: maximum}}
oracle: {{kind: lookup}}
budget: {{max_experiments: 10}}
""", name="broken.yaml")
    result = runner.invoke(app, ["benchmark", str(spec), "--budget", "10"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "objective.goal" in result.output and "Traceback" not in result.output


def test_the_pvlab_specs_point_at_the_shared_datasets():
    from orchestrator.config import load_campaign

    specs = sorted((CAMPAIGNS / "benchmarks").glob("*.yaml"))
    assert {p.stem for p in specs} == {"crossed_barrel", "perovskite", "autoam", "p3ht", "agnp"}
    if not (DATASETS / "pvlab").is_dir():
        pytest.skip("the shared datasets are not available here")
    for p in specs:
        c = load_campaign(p)
        assert c.space.path == (DATASETS / "pvlab" / f"{p.stem}.csv").resolve()
        # looplab's default strategy, stated explicitly in each spec
        assert (c.spec.model.kind, c.spec.acquisition.kind, c.spec.acquisition.batch_size) == ("gp", "ucb", 1)
        assert c.spec.acquisition.params == {"beta": 0.3}
        assert (c.spec.initial.n, c.spec.initial.method) == (2, "random")
        assert math.isfinite(c.space.size) and c.space.size >= 94


def test_the_olympus_specs_run_the_default_on_the_shared_datasets():
    """The out-of-sample pools (not used to choose the defaults) state the same default strategy."""
    from orchestrator.config import load_campaign

    specs = sorted((CAMPAIGNS / "benchmarks" / "olympus").glob("*.yaml"))
    assert {p.stem for p in specs} == {"fullerenes", "colors_bob", "perovskites"}
    if not (DATASETS / "olympus").is_dir():
        pytest.skip("the shared datasets are not available here")
    sizes = {}
    for p in specs:
        c = load_campaign(p)
        assert c.space.path == (DATASETS / "olympus" / p.stem / "data.csv").resolve()
        assert (c.spec.model.kind, c.spec.acquisition.kind, c.spec.acquisition.params) == ("gp", "ucb", {"beta": 0.3})
        assert (c.spec.initial.n, c.spec.initial.method, c.spec.acquisition.batch_size) == (2, "random", 1)
        sizes[p.stem] = c.space.size
    assert sizes == {"fullerenes": 216, "colors_bob": 161,  # repeated inputs collapsed into one candidate
                     "perovskites": 192}


def test_the_direct_arylation_specs_are_one_temperature_each():
    """90/105/120.yaml: 576 candidates of one temperature each (a where: filter on the shared CSV), three
    categorical inputs with a SMILES column each and the numeric concentration; the default strategy."""
    from orchestrator.config import load_campaign

    specs = sorted((CAMPAIGNS / "benchmarks" / "direct_arylation").glob("*.yaml"))
    assert {p.stem for p in specs} == {"90", "105", "120"}
    if not (DATASETS / "direct_arylation").is_dir():
        pytest.skip("the shared datasets are not available here")
    for p in specs:
        c = load_campaign(p)
        assert c.spec.space.pool.where == {"Temp_C": int(p.stem)}
        assert c.space.size == 576
        assert [(g.name, g.kind, g.width) for g in c.space.column_groups()] == [
            ("Base", "categorical", 4), ("Ligand", "categorical", 12), ("Solvent", "categorical", 4),
            ("Concentration", "numeric", 1)]
        assert (c.spec.model.kind, c.spec.acquisition.kind, c.spec.acquisition.params) == ("gp", "ucb", {"beta": 0.3})
        assert (c.spec.initial.n, c.spec.initial.method, c.spec.budget.max_experiments) == (2, "random", 50)


def test_a_transfer_benchmark_notes_seeds_whose_drawn_source_is_constant(tmp_path):
    """Fuzz round nineteen: a source of 200 rows, 197 of them at one value, passes validate; a 1% draw of it is
    constant in every seed, which a campaign refuses, and the benchmark ran on it without a word."""
    rng = np.random.default_rng(0)
    (tmp_path / "pool.csv").write_text("a,b,y\n" + "".join(f"{a},{b},{a + b}\n" for a in range(6) for b in range(6)))
    rows = [(float(rng.uniform(0, 5)), float(rng.uniform(0, 5)), 1.0 if k >= 3 else float(k)) for k in range(200)]
    (tmp_path / "src.csv").write_text("a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{y}\n" for a, b, y in rows))
    spec = write_campaign(tmp_path, """\
name: flat
seed: 0
space:
  pool: {path: pool.csv, inputs: [a, b]}
objective: {name: y, goal: max}
oracle: {kind: lookup}
model:
  kind: transfer
  params: {method: multi-task, source: [{path: src.csv, objective: y}]}
acquisition: {kind: ei, batch_size: 1}
initial: {n: 2}
budget: {max_experiments: 4}
""")
    result = runner.invoke(app, ["benchmark", str(spec), "--seeds", "2", "--budget", "3", "--transfer-fraction",
                                 "0.01,0.9", "--out", str(tmp_path / "out")], env={"COLUMNS": "300"})
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "note transfer multi-task 0.01: in 2 of 2 seeds a drawn source has one value in all its rows" in said
    assert "multi-task 0.9: in" not in said  # 180 of the 200 rows: the three other values are among them
