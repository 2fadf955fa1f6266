"""An import-path plugin in the campaign file's folder works without PYTHONPATH (README, "Write an oracle
plugin"), in the engine's process and in the worker processes of the local executor."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

ORACLE = '''
from oracles.base import SyncOracle


class Bowl(SyncOracle):
    """A bowl with its minimum at x = 0.3."""

    def evaluate(self, params):
        return (float(params["x"]) - 0.3) ** 2
'''

CAMPAIGN = """
name: next-to-me
space:
  parameters:
    - {name: x, type: float, low: 0.0, high: 1.0}
objective: {name: value, goal: min}
oracle: {kind: "my_lab_bowl:Bowl"}
model: {kind: random-forest}   # no TensorFlow: a quick subprocess
initial: {n: 3}
budget: {max_experiments: 5}
executor: {kind: local, workers: 1}
"""


def test_a_plugin_next_to_the_campaign_file_runs_without_pythonpath(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "my_lab_bowl.py").write_text(ORACLE)
    (folder / "campaign.yaml").write_text(CAMPAIGN)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "orchestrator"]
    ok = subprocess.run(cmd + ["validate", str(folder / "campaign.yaml")], cwd=elsewhere, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    run = subprocess.run(cmd + ["run", str(folder / "campaign.yaml"), "--store", f"sqlite:///{tmp_path / 's.db'}",
                                "-q"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "completed (budget reached)" in run.stdout and "5 succeeded" in run.stdout, run.stdout


def test_an_installed_package_of_the_same_name_still_wins(tmp_path):
    """The campaign's folder goes at the end of the import path: a file named like an installed module
    (here ``oracles``) does not shadow it."""
    (tmp_path / "oracles.py").write_text("raise ImportError('the shadow was imported')\n")
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN.replace("my_lab_bowl:Bowl", "oracles.functions:FunctionOracle")
                                            .replace("oracle: {kind", "oracle: {params: {function: sphere}, kind"))
    out = subprocess.run([sys.executable, "-m", "orchestrator", "validate", str(tmp_path / "campaign.yaml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


PHYSICS = '''
import numpy as np

from orchestrator.models.physics import NewtonCooling


class MyCooling(NewtonCooling):
    """Newton cooling under another name, in the campaign's folder."""
'''


def test_a_physics_plugin_next_to_the_campaign_file_is_found_with_a_built_in_oracle(tmp_path):
    """The folder was put on the import path only while an import-path oracle was resolved, so the same
    physics plugin was found with `oracle: my_module:Class` and not with `oracle: function` (fuzz round of
    2026-12-05)."""
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "my_cooling.py").write_text(PHYSICS)
    (folder / "campaign.yaml").write_text("""
name: cooling-next-to-me
space:
  parameters:
    - {name: t, type: float, low: 0.0, high: 300.0}
    - {name: T_env, type: float, low: 10.0, high: 40.0}
objective: {name: T, goal: min}
oracle: {kind: function, params: {function: sphere}}
model: {kind: physics-gp, params: {physics: "my_cooling:MyCooling"}}
budget: {max_experiments: 5}
""")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ok = subprocess.run([sys.executable, "-m", "orchestrator", "validate", str(folder / "campaign.yaml")],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
