"""`looplab report` for spaces the model cannot be drawn over whole: slices through the predicted best and the
inputs' relevance, on a 4-input campaign (a bowl in x1 and x2, an ignored x3, a categorical catalyst)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write_campaign
from orchestrator.cli import app
from orchestrator.report import fit_model, relevance_of
from orchestrator.store import Store

runner = CliRunner()

FOUR_INPUTS = """
name: four-inputs
seed: 3
space:
  parameters:
    - {name: x1, type: float, low: 0.0, high: 1.0, unit: mm}
    - {name: x2, type: float, low: 0.0, high: 1.0, unit: mm}
    - {name: x3, type: float, low: 0.0, high: 1.0, unit: bar}
    - {name: catalyst, type: categorical, choices: [A, B, C]}
objective: {name: loss, goal: min, unit: mJ}
oracle: {kind: "oracles_for_tests:IgnoresX3"}
model: {kind: gp, params: {restarts: 1}}
initial: {n: 32, method: sobol}   # a space-filling design only: no model step, so the test is quick
budget: {max_experiments: 32}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slices")
    url = f"sqlite:///{tmp / 's.db'}"
    path = write_campaign(tmp, FOUR_INPUTS)
    result = runner.invoke(app, ["run", str(path), "--store", url, "-q"])
    assert result.exit_code == 0, result.output
    return tmp, url


def test_report_draws_slices_and_relevance_with_units(finished):
    tmp, url = finished
    out = tmp / "report"
    result = runner.invoke(app, ["report", "four-inputs", "--store", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("slices.png", "relevance.png"):
        assert (out / name).stat().st_size > 10_000, name
    assert not (out / "model.png").exists()
    html = (out / "report.html").read_text()
    assert "Slices through the predicted best" not in html  # the title is in the picture; the caption says it
    assert "with every other input held at the predicted best" in html and "Not drawn" not in html
    assert "<th>loss (mJ)</th>" in html  # the objective's unit in the table of best experiments
    assert "1 / lengthscale" in html


def test_relevance_ranks_the_ignored_input_last(finished):
    _, url = finished
    store = Store(url)
    row = store.get_campaign("four-inputs")
    view = fit_model(row, store, store.experiments(row.id))
    sens, ls = relevance_of(view)
    print("sensitivity", {k: round(v, 3) for k, v in sens.items()})
    print("1/lengthscale", {k: round(v, 3) for k, v in (ls or {}).items()})
    assert min(sens, key=sens.get) == "x3" and sens["x3"] < 0.1
    # the GP's lengthscale prior keeps every lengthscale within a few units, so 1/lengthscale separates less
    # (x1 0.39, x2 0.28, x3 0.19, catalyst 0.14: a one-hot input's lengthscale is not on a numeric one's scale)
    assert ls is not None and ls["x3"] < min(ls["x1"], ls["x2"])
    assert sum(sens.values()) == pytest.approx(1.0) and sum(ls.values()) == pytest.approx(1.0)
