"""Kill `looplab run` with SIGKILL midway; running it again loses and repeats nothing.

A real subprocess, a real SQLite file, a real signal. The resumed campaign
must also propose exactly what an uninterrupted run proposes (same ids, same
params, same order), because each step's randomness and the model's warm start
come from the store, not from memory.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


from conftest import ROOT, alloy_yaml

BUDGET = 24


def looplab(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="120")
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from experiments").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select id, params, status, value from experiments order by seq").fetchall()


def sigkill_after(proc: subprocess.Popen, db: Path, n: int) -> int:
    """SIGKILL ``proc`` once the store ``db`` holds ``n`` experiments; returns how many it held then."""
    deadline = time.time() + 240
    while count(db) < n and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"it ended before it could be killed:\n{proc.communicate()[1]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return count(db)


def test_sigkill_midway_then_resume(tmp_path):
    spec = tmp_path / "alloy.yaml"
    spec.write_text(alloy_yaml(name="killme", seed=5, budget=BUDGET))
    db = tmp_path / "killed.db"

    killed_at = sigkill_after(looplab("run", str(spec), "--store", f"sqlite:///{db}"), db, 12)
    assert 12 <= killed_at < BUDGET

    resumed = looplab("run", str(spec), "--store", f"sqlite:///{db}")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming campaign 'killme'" in out

    got = rows(db)
    assert len(got) == BUDGET, "an experiment was lost or one was added"
    assert len({r[0] for r in got}) == BUDGET
    assert len({r[1] for r in got}) == BUDGET, "the same candidate was run twice"
    assert {r[2] for r in got} == {"succeeded"}
    assert all(r[3] is not None for r in got)

    # the uninterrupted run of the same file proposes exactly the same experiments
    clean_db = tmp_path / "clean.db"
    clean = looplab("run", str(spec), "--store", f"sqlite:///{clean_db}")
    _, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    assert [r[:2] for r in rows(clean_db)] == [r[:2] for r in got]
