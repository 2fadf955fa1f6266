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


SPACE = """
name: {name}
space:
  parameters:
    - {{name: a, type: float, low: 0.0, high: 1.0}}
    - {{name: step, type: int, low: 0, high: 3}}
    - {{name: b, type: float, low: 0.0, high: 1.0}}
objective: {{name: y, goal: max}}
oracle: {{kind: function, params: {{function: sphere}}}}
initial: {{n: 2}}
budget: {{max_experiments: 4}}
"""


def test_the_header_is_the_spaces_with_no_experiment_as_with_some(tmp_path):
    """Fuzz F12: a campaign with no experiment yet (opened through the Python API, not run) exported the header
    seq,id,step,position,status,y,... without its inputs' columns, which a script reading columns by name needs.
    The inputs come from the campaign's space, so the header is the same before and after its experiments."""
    from orchestrator import Campaign

    url = f"sqlite:///{tmp_path / 's.db'}"
    specs = {"space": write_campaign(tmp_path, SPACE.format(name="space"), "space.yaml"),
             "pool": write_campaign(tmp_path, alloy_yaml(name="pool", budget=4, model="random-forest", initial=2),
                                    "pool.yaml")}
    inputs = {"space": ["a", "step", "b"], "pool": ["x_Cu", "x_Ag", "x_Au"]}
    columns = {"space": ["a", "param_step", "b"], "pool": inputs["pool"]}  # an input named 'step': param_step
    objective = {"space": "y", "pool": "mixing_energy"}
    for name, spec in specs.items():
        headers, docs = [], []
        with Campaign.open(spec, store=url) as c:
            for _ in range(2):
                out = tmp_path / f"{name}-{len(headers)}.csv"
                result = runner.invoke(app, ["export", name, "--store", url, "--out", str(out)])
                assert result.exit_code == 0, result.output
                headers.append(next(csv.reader(io.StringIO(out.read_text()))))
                result = runner.invoke(app, ["export", name, "--store", url, "--format", "json"])
                assert result.exit_code == 0, result.output
                docs.append(json.loads(result.stdout))
                for i, e in enumerate(c.ask(n=2)):
                    c.tell(e["id"], 0.5 + i)
        assert len(docs[0]["experiments"]) == 0 and len(docs[1]["experiments"]) == 2
        assert headers[0] == headers[1], (name, headers)
        assert headers[0][:9] == ["seq", "id", "step", "position", "status", *columns[name], objective[name]]
        assert docs[0].keys() == docs[1].keys()  # JSON: each experiment carries its params by name
        assert [list(e["params"]) for e in docs[1]["experiments"]] == [inputs[name]] * 2


def test_an_export_that_cannot_be_written_whole_leaves_the_earlier_file(tmp_path, monkeypatch):
    """Fuzz round nineteen: a full disk left a truncated export where the earlier one was. The export is written
    to a temporary file and moved into place, so a failure keeps the earlier file and leaves no temporary one."""
    import errno
    import pathlib

    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = write_campaign(tmp_path, alloy_yaml(name="whole", budget=4, model="random-forest", initial=2), "w.yaml")
    assert runner.invoke(app, ["run", str(spec), "--store", url, "--quiet"]).exit_code == 0
    out = tmp_path / "e.csv"
    assert runner.invoke(app, ["export", "whole", "--store", url, "--out", str(out)]).exit_code == 0
    before = out.read_text()
    real = pathlib.Path.write_text

    def full(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    result = runner.invoke(app, ["export", "whole", "--store", url, "--out", str(out)])
    monkeypatch.undo()
    assert result.exit_code == 2 and "--out: cannot write" in result.output and "No space left" in result.output
    assert out.read_text() == before and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    (tmp_path / "plain.txt").write_text("")  # the re-run of round nineteen: a folder that is a file was a traceback
    result = runner.invoke(app, ["export", "whole", "--store", url, "--out", str(tmp_path / "plain.txt" / "e.csv")])
    assert result.exit_code == 2 and "(Not a directory); choose another path" in " ".join(result.output.split())
