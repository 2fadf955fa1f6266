"""Shared fixtures: paths, a temporary store, and a helper that runs a campaign in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the CLI's tables take the width their contents need when $COLUMNS is unset and stdout is no terminal, and
# the tests read them whole; a $COLUMNS from the caller's shell (or pytest-xdist's workers, which set 80)
# would cut them. Tests that want a width pass their own.
os.environ.pop("COLUMNS", None)

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"
ALLOY_POOL = CAMPAIGNS / "data" / "alloy_cuagau_emt.csv"
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'looplab.db'}"


def write_campaign(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edit_stored_spec(url: str, name: str, edit) -> None:
    """Change campaign ``name``'s stored spec in place (``edit(spec)``), as an older looplab might have stored
    it: raw SQL on the SQLite file, as the store holds it."""
    import json
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        spec = json.loads(con.execute("select spec from campaigns where name = ?", (name,)).fetchone()[0])
        edit(spec)
        con.execute("update campaigns set spec = ? where name = ?", (json.dumps(spec), name))
        con.commit()
    finally:
        con.close()


def alloy_yaml(*, name: str = "alloy", seed: int = 0, budget: int = 30, model: str = "gp",
               batch_size: int = 1, initial: int = 5, extra: str = "") -> str:
    """A pool campaign over the committed alloy pool (absolute path, so it works from tmp_path)."""
    return f"""
name: {name}
seed: {seed}
space:
  pool:
    path: {ALLOY_POOL}
    inputs: [x_Cu, x_Ag, x_Au]
objective: {{name: mixing_energy, goal: min}}
oracle: {{kind: lookup}}
model: {{kind: {model}}}
acquisition: {{kind: ei, batch_size: {batch_size}}}
initial: {{n: {initial}, method: sobol}}
budget: {{max_experiments: {budget}}}
{extra}
"""


# ----------------------------------------------------------------------------- a real PostgreSQL

PG_HINT = ("install Debian's postgresql package (apt-get install -y postgresql; `make test` does it when run as "
           "root) or put pg_ctl on PATH")


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, else where Debian's postgresql package puts it."""
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1 in a temporary folder (initdb + pg_ctl; as root, run as the
    `postgres` user, since PostgreSQL refuses to run as root). ``url`` is its server without a database name;
    ``stop()`` and ``start()`` take it down and up again (a server restart under a daemon). Skips the test,
    saying why, when no PostgreSQL server is installed."""

    def __init__(self) -> None:
        import shutil
        import subprocess
        import tempfile

        try:
            import psycopg  # noqa: F401
        except ImportError:
            pytest.skip("PostgreSQL tests: psycopg is not installed (pip install 'looplab[postgres]')")
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            pytest.skip(f"PostgreSQL tests: no initdb/pg_ctl found; {PG_HINT}")
        self.as_user: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="looplab-pg-"))
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if not runuser:
                pytest.skip("PostgreSQL tests: running as root without `runuser` to start the server as `postgres`")
            self.as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self.data, self.port = self.folder / "data", _free_port()
        self.url = f"postgresql://looplab@127.0.0.1:{self.port}"
        try:
            subprocess.run([*self.as_user, initdb, "-D", str(self.data), "-A", "trust", "-U", "looplab", "-E",
                            "UTF8", "--no-instructions"], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            self.remove()
            pytest.fail(f"PostgreSQL test cluster could not be made: {exc.stderr}")
        self.start()

    def start(self) -> None:
        import subprocess

        # fsync off (-F): the tests kill clients, never the server; many connections: daemons have pools
        try:
            subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "server.log"),
                            "-w", "-t", "60", "-o", f"-F -h 127.0.0.1 -p {self.port} -k {self.folder} "
                            "-c max_connections=300", "start"], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            log = (self.folder / "server.log").read_text() if (self.folder / "server.log").exists() else ""
            self.remove()
            pytest.fail(f"PostgreSQL test server did not start: {exc.stderr}{log[-2000:]}")

    def stop(self, mode: str = "immediate") -> None:
        import subprocess

        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True)

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster for the whole test session (PgCluster); yields the URL of its server
    without a database name."""
    cluster = PgCluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()
        cluster.remove()


@pytest.fixture
def restartable_postgres():
    """A PostgreSQL cluster of one test's own (PgCluster), which the test may stop and start."""
    cluster = PgCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove()


@pytest.fixture
def pg_url(postgres_server, request) -> str:
    """A new, empty PostgreSQL database for one test."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request, tmp_path) -> str:
    """The store URL of a test that must hold on both backends: a SQLite file, then a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'looplab.db'}"
    return request.getfixturevalue("pg_url")


# -- encoded categorical inputs for the GP core's tests ----------------------------------------------------------

@dataclass(frozen=True)
class Group:  # the shape of space.column_groups()'s items
    name: str
    columns: slice
    kind: str


def onehot(level: int, n: int) -> list[float]:
    return [1.0 if i == level else 0.0 for i in range(n)]


# one numeric input, then a categorical input with 3 levels, then one with 2 levels: 6 encoded columns, 3 groups
GROUPS = [Group("t", slice(0, 1), "numeric"), Group("base", slice(1, 4), "categorical"),
          Group("solvent", slice(4, 6), "categorical")]
