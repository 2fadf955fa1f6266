"""The README's example plugin (tests/plugin_example): installed with pip, found by its entry point, run end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, write_campaign
from oracles.base import Experiment
from oracles.testing import check_oracle

EXAMPLE = ROOT / "tests" / "plugin_example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """pip-install the example into a private folder; a subprocess with it on PYTHONPATH sees the entry point."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(EXAMPLE)],
                          capture_output=True, text=True, cwd=build, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(target.glob("looplab_reactor_example-1.0.0.dist-info"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    return {"target": target, "env": env}


def looplab(installed: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          env=installed["env"], cwd=cwd, timeout=600)


def test_the_installed_plugin_is_listed_with_its_distribution(installed):
    out = looplab(installed, "plugins")
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if " reactor " in ln)
    assert "oracle" in line and "looplab-reactor-example" in line and "Batch reactor" in line


def test_the_installed_plugin_runs_a_campaign_end_to_end(installed, tmp_path):
    sys.path.insert(0, str(installed["target"]))
    try:
        from looplab_reactor.oracle import ReactorOracle, yield_b
    finally:
        sys.path.remove(str(installed["target"]))
    store = f"sqlite:///{tmp_path / 'reactor.db'}"
    out = looplab(installed, "run", str(EXAMPLE / "campaign.yaml"), "--store", store, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "campaign reactor-yield: completed" in out.stdout

    from orchestrator.store import Store

    st = Store(store)
    exps = st.experiments(st.get_campaign("reactor-yield").id)
    assert len(exps) == 30 and all(e.status == "succeeded" for e in exps)
    c = ReactorOracle.Config()
    constants = dict(a1=c.a1, ea1=c.ea1, a2=c.a2, ea2=c.ea2)
    for e in exps:  # the stored values are the plugin's own numbers
        assert e.value == pytest.approx(yield_b(e.params["temperature"], e.params["time"], **constants))
    grid = max(yield_b(t, s, **constants) for t in np.linspace(300, 400, 201) for s in np.linspace(1, 600, 600))
    best = max(e.value for e in exps)
    assert best >= 0.98 * grid, (best, grid)  # the campaign found the best yield (0.774 at 333 K, 600 s)


def test_the_plugins_config_errors_are_reported_like_any_other(installed, tmp_path):
    text = (EXAMPLE / "campaign.yaml").read_text().replace("oracle: {kind: reactor}",
                                                           "oracle: {kind: reactor, params: {ea1: -5, time: t_s}}")
    path = write_campaign(tmp_path, text)
    out = looplab(installed, "validate", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "oracle.params.ea1" in out.stderr and "greater than 0" in out.stderr
    text = (EXAMPLE / "campaign.yaml").read_text().replace("oracle: {kind: reactor}",
                                                           "oracle: {kind: reactor, params: {time: t_s}}")
    out = looplab(installed, "validate", str(write_campaign(tmp_path, text, "b.yaml")))
    assert out.returncode == 2 and "oracle.params.time" in out.stderr and "no parameter 't_s'" in out.stderr


def test_the_plugin_keeps_the_oracle_contract(installed):
    sys.path.insert(0, str(installed["target"]))
    try:
        from looplab_reactor.oracle import ReactorOracle
    finally:
        sys.path.remove(str(installed["target"]))
    oracle = ReactorOracle(config=ReactorOracle.Config(), objective="yield_b")
    results = check_oracle(oracle, [Experiment("a", {"temperature": 330.0, "time": 300.0}),
                                    Experiment("b", {"temperature": 360.0, "time": 60.0})],
                           failing=Experiment("bad", {"temperature": -1.0, "time": 10.0}))
    assert 0 < results["a"].value < 1 and "conversion" in results["a"].outputs
    assert "temperature must be > 0 K" in results["bad"].error


def test_the_readme_shows_the_example_exactly_as_it_is():
    readme = (ROOT / "README.md").read_text()
    code = (EXAMPLE / "looplab_reactor" / "oracle.py").read_text()
    assert f"```python\n{code}```" in readme, "README's 'Write an oracle plugin' copy differs from oracle.py"
