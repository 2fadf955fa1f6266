"""Every built-in oracle keeps the contract checked by oracles.testing.check_oracle (the plugin author kit)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import ALLOY_POOL
from oracles.base import Experiment, OracleContext, Result, SyncOracle
from oracles.functions import FunctionOracle, branin
from oracles.lookup import LookupOracle
from oracles.testing import ContractViolation, check_oracle
from orchestrator.executors import LocalExecutor, OracleRecipe

import numpy as np


def alloy_rows(n: int) -> list[dict]:
    with open(ALLOY_POOL) as fh:
        return list(csv.DictReader(fh))[:n]


def test_lookup_oracle():
    rows = alloy_rows(3)
    oracle = LookupOracle(path=ALLOY_POOL, inputs=("x_Cu", "x_Ag", "x_Au"), column="mixing_energy")
    exps = [Experiment(f"r{i}", {k: float(r[k]) for k in ("x_Cu", "x_Ag", "x_Au")}) for i, r in enumerate(rows)]
    results = check_oracle(oracle, exps, failing=Experiment("off-pool", {"x_Cu": 0.123, "x_Ag": 0.0, "x_Au": 0.877}))
    for i, r in enumerate(rows):
        assert results[f"r{i}"].value == pytest.approx(float(r["mixing_energy"]))
    assert "no row" in results["off-pool"].error or "not in" in results["off-pool"].error


def test_function_oracle():
    oracle = FunctionOracle(function="branin", inputs=("x1", "x2"))
    results = check_oracle(oracle, [Experiment("pi", {"x1": np.pi, "x2": 2.275}), Experiment("o", {"x1": 0.0, "x2": 0.0})],
                           failing=Experiment("missing", {"x1": 1.0}))
    assert results["pi"].value == pytest.approx(0.397887, abs=1e-6)
    assert results["o"].value == pytest.approx(branin(np.array([0.0, 0.0])))
    assert results["missing"].status == "failed" and "x2" in results["missing"].error


def test_function_oracle_in_the_local_process_pool():
    ctx = OracleContext(campaign="c", base_dir=Path("."), objective="value", inputs=("x1", "x2"))
    ex = LocalExecutor(OracleRecipe.of(FunctionOracle, FunctionOracle.Config(function="branin"), ctx), workers=2,
                       timeout=30)
    try:
        results = check_oracle(ex, [Experiment("pi", {"x1": np.pi, "x2": 2.275})],
                               failing=Experiment("missing", {"x1": 1.0}), timeout=60)
    finally:
        ex.close()
    assert results["pi"].value == pytest.approx(0.397887, abs=1e-6)
    assert "KeyError" in results["missing"].error


# --- the kit itself catches broken oracles (a checker that cannot fail would be worthless)


class _Twice:
    """Breaks idempotency: reports every experiment ever submitted on every poll."""

    def __init__(self):
        self.ids: list[str] = []

    def submit(self, experiments):
        self.ids += [e.id for e in experiments]

    def poll(self):
        return [Result(i, "succeeded", value=1.0) for i in self.ids]

    def cancel(self, experiment_id):
        pass


class _Raises:
    def submit(self, experiments):
        for e in experiments:
            if e.params.get("bad"):
                raise RuntimeError("boom")

    def poll(self):
        return []

    def cancel(self, experiment_id):
        raise KeyError(experiment_id)


class _Garbage(SyncOracle):
    def submit(self, experiments):
        self._ensure_init()
        for e in experiments:
            self._done[e.id] = Result(e.id, "succeeded", value=float("nan"), outputs={"x": object()})
        self._done["stranger"] = Result("stranger", "failed", error="")


@pytest.mark.parametrize("oracle, fragments", [
    (_Twice(), ["more than one result", "came back succeeded, not failed"]),
    (_Raises(), ["must report a failed result instead", "no result within", "cancel() of an unknown id raised"]),
    (_Garbage(), ["finite real number", "not JSON-serialisable", "never submitted"]),
])
def test_the_contract_kit_reports_what_is_broken(oracle, fragments):
    with pytest.raises(ContractViolation) as err:
        check_oracle(oracle, [Experiment("a", {"x": 1})], failing=Experiment("b", {"bad": True}), timeout=0.5)
    for f in fragments:
        assert f in str(err.value), str(err.value)


def test_oracles_and_acquisition_never_import_the_orchestrator():
    """A plugin author needs only oracles/ and acquisition/ (README, Layout): no module there imports
    orchestrator/, at the top or inside a function."""
    import ast

    from conftest import ROOT

    offenders = []
    files = sorted((ROOT / "oracles").rglob("*.py")) + sorted((ROOT / "acquisition").rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n == "orchestrator" or n.startswith("orchestrator.")]
    assert offenders == []
