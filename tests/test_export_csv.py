"""`looplab export --format csv`: the objective under its own name, and one column per oracle output."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from conftest import alloy_yaml, write_campaign
from orchestrator.cli import app
from orchestrator.store import Store

runner = CliRunner()


def test_csv_names_the_objective_and_keeps_the_outputs(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = write_campaign(tmp_path, alloy_yaml(name="exp", budget=6, model="random-forest"))
    assert runner.invoke(app, ["run", str(spec), "--store", url, "-q"]).exit_code == 0
    result = runner.invoke(app, ["export", "exp", "--store", url])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    header = next(csv.reader(io.StringIO(result.stdout)))
    assert header[:9] == ["seq", "id", "step", "position", "status", "x_Cu", "x_Ag", "x_Au", "mixing_energy"]
    assert "value" not in header and header[-2:] == ["row", "wall_seconds"]  # the lookup oracle's outputs
    store = Store(url)
    exps = store.experiments(store.get_campaign("exp").id)
    for r, e in zip(rows, exps, strict=True):
        assert float(r["mixing_energy"]) == e.value
        assert int(r["row"]) == e.outputs["row"] and float(r["wall_seconds"]) == e.outputs["wall_seconds"]


def test_csv_output_columns_that_clash_and_lists(tmp_path):
    """An output named like a column gets an ``output_`` prefix; a list is written as JSON; an objective
    named like a bookkeeping column keeps the name ``value``; an input named like one gets ``param_``."""
    from orchestrator.engine import Engine
    from orchestrator.config import load_campaign
    from oracles.base import Result

    text = """
name: clash
space:
  parameters:
    - {name: x, type: float, low: 0.0, high: 1.0}
    - {name: step, type: float, low: 0.0, high: 1.0}
objective: {name: status, goal: min}
oracle: {kind: function, params: {function: sphere}}
initial: {n: 2}
budget: {max_experiments: 2}
"""
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    with Engine(load_campaign(write_campaign(tmp_path, text)), store) as engine:
        engine.step()  # proposes the initial design; results below are entered by hand
        exps = store.experiments(engine.id)
        store.record_results(engine.id, [Result(e.id, "succeeded", value=0.5 + i, outputs={"x": 9, "seq": "s",
                                                                                          "spectrum": [1, 2]})
                                         for i, e in enumerate(exps)], fence=engine.fence)
    result = runner.invoke(app, ["export", "clash", "--store", url])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [float(r["value"]) for r in rows] == [0.5, 1.5] and rows[0]["status"] == "succeeded"
    assert rows[0]["step"] == "0" and 0.0 <= float(rows[0]["param_step"]) <= 1.0  # the step, then the input
    assert list(rows[0]).count("step") == 1
    assert rows[0]["output_x"] == "9" and rows[0]["output_seq"] == "s" and json.loads(rows[0]["spectrum"]) == [1, 2]


def test_the_format_follows_the_out_suffix_a_clash_is_refused_and_dash_is_stdout(tmp_path):
    """Found by the fuzz round of 2026-12-04 (night): `-o x.json` wrote CSV into x.json, `-f json -o y.csv`
    JSON into y.csv, and `-o -` a file named '-'."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = write_campaign(tmp_path, alloy_yaml(name="exp", budget=6, model="random-forest"))
    assert runner.invoke(app, ["run", str(spec), "--store", url, "-q"]).exit_code == 0
    r = runner.invoke(app, ["export", "exp", "--store", url, "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 0 and len(json.loads((tmp_path / "x.json").read_text())["experiments"]) == 6, r.output
    r = runner.invoke(app, ["export", "exp", "--store", url, "-f", "json", "-o", str(tmp_path / "y.csv")])
    assert r.exit_code == 2 and "ends in .csv but --format is json" in r.output and not (tmp_path / "y.csv").exists()
    r = runner.invoke(app, ["export", "exp", "--store", url, "-o", "-"])
    assert r.exit_code == 0 and r.stdout.startswith("seq,id,") and not (tmp_path / "-").exists(), r.output
