"""Build the folder every case of the command fuzz corpus starts from, from scratch, with looplab itself.

The committed text files of ``fix/`` (campaign YAMLs, the mock robot's configs, the failing oracle plugin
``failplug.py``) are copied, ``@DATASETS@`` replaced by the shared datasets folder; ``pool.csv`` is the
committed alloy pool (``campaigns/data/alloy_cuagau_emt.csv``). Then the SQLite stores are made by
running the CLI (and, for ``empty.db``, looplab's Python API) in the folder:

==============  ===================================================================================
``fin.db``      branin-rf run to its budget: completed, 8 succeeded
``gated.db``    gated (approval: required) run one step: 3 experiments awaiting approval
``hand.db``     hand (manual oracle) asked for its first batch, one told: 1 succeeded, 2 proposed
``multi.db``    the three above in one store (branin-rf, gated, hand, in that order)
``empty.db``    empty (manual): the campaign stored, 0 experiments, 0 steps
``allfail.db``  allfail, whose oracle (failplug.py) always raises: completed, 8 failed
``robstop.db``  rob against a mock robot whose every experiment faults: stopped by its failure rate
``ws.csv``      the worksheet of hand's first batch (``ask --csv``), values not filled in
==============  ===================================================================================

Every campaign has a seed and the oracles are deterministic, so the stores hold the same experiments each
time (robstop.db's number of experiments depends on timing, its status does not). The campaigns' base
folder is the built folder: the cases run in copies of it.

Run by tests/test_fuzz_commands.py (once per test process); by hand, to look at the fixtures:
``python tests/fuzz_commands/make_fixtures.py DEST``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIX = HERE / "fix"
REPO = HERE.parents[1]
POOL = REPO / "campaigns" / "data" / "alloy_cuagau_emt.csv"
LIMIT = 120  # seconds per command

# the mock robot for robstop.db: fast lab time, every experiment ends in an instrument fault
FAULTY_ROBOT = """\
name: faulty-lab
seed: 11
stations: 3
speedup: 600
duration: {mean: 60, jitter: 10}
faults: {probability: 1.0}
ground_truth: {kind: function, function: branin, parameters: [x1, x2]}
"""


class FixtureError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Builder:
    def __init__(self, dest: Path, looplab: str, env: dict[str, str]):
        self.dest, self.looplab, self.env = dest, looplab, env

    def ll(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        try:
            p = subprocess.run([self.looplab, *args], cwd=self.dest, env=self.env, capture_output=True, text=True,
                               timeout=LIMIT)
        except subprocess.TimeoutExpired as exc:
            raise FixtureError(f"looplab {' '.join(args)}: no end within {LIMIT} s") from exc
        if p.returncode not in ok or "Traceback" in p.stdout + p.stderr:
            raise FixtureError(f"looplab {' '.join(args)}: exit code {p.returncode}\n{p.stdout[-2000:]}\n"
                               f"{p.stderr[-2000:]}")
        return p.stdout

    def python(self, code: str) -> None:
        p = subprocess.run([sys.executable, "-c", code], cwd=self.dest, env=self.env, capture_output=True,
                           text=True, timeout=LIMIT)
        if p.returncode:
            raise FixtureError(f"python -c {code!r}: exit code {p.returncode}\n{p.stderr[-2000:]}")

    # -- the stores ------------------------------------------------------------------------------------------

    def branin_rf(self, db: str) -> None:
        self.ll("run", "branin_rf.yaml", "--store", f"sqlite:///{db}", "-q")

    def gated(self, db: str) -> None:
        self.ll("run", "gated.yaml", "--store", f"sqlite:///{db}", "-q", "--max-steps", "1")

    def hand(self, db: str, worksheet: str | None = None) -> None:
        self.ll("ask", "hand.yaml", "--store", f"sqlite:///{db}", *(["--csv", worksheet] if worksheet else []))
        self.ll("tell", "hand", "hand-0000-00", "50", "--store", f"sqlite:///{db}")

    def empty(self, db: str) -> None:
        # no command stores a campaign without proposing (ask --n 0 is refused): the API's Campaign.open does
        self.python("from orchestrator import Campaign\n"
                    f"Campaign.open('empty.yaml', store='sqlite:///{db}').close()")

    def allfail(self, db: str) -> None:
        self.ll("run", "allfail.yaml", "--store", f"sqlite:///{db}", "-q", ok=(1,))  # 1: nothing succeeded

    def robstop(self, db: str) -> None:
        with tempfile.TemporaryDirectory(prefix="looplab-fuzz-robot-") as tmp:
            config = Path(tmp) / "robot.yaml"
            config.write_text(FAULTY_ROBOT)
            port = _free_port()
            campaign = self.dest / "_robstop.yaml"  # in the folder: the campaign's base folder is the fixtures'
            campaign.write_text((FIX / "rob.yaml").read_text().replace("@PORT@", str(port)))
            with open(Path(tmp) / "robot.log", "w") as log:
                robot = subprocess.Popen([self.looplab, "mock-robot", "serve", "--port", str(port), "--config",
                                          str(config), "--db", str(Path(tmp) / "jobs.db")],
                                         cwd=tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            try:
                self._wait_for(f"http://127.0.0.1:{port}/health", robot, Path(tmp) / "robot.log")
                self.ll("run", campaign.name, "--store", f"sqlite:///{db}", "-q", "--poll-interval", "0.1",
                        ok=(1,))  # 1: stopped by its failure rate
            finally:
                robot.kill()
                robot.wait(timeout=30)
                campaign.unlink()

    @staticmethod
    def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise FixtureError(f"the mock robot exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise FixtureError(f"the mock robot did not answer {url} within {timeout} s: {log.read_text()[-2000:]}")


def _contents(db: Path) -> dict[str, tuple[str, dict[str, int]]]:
    """{campaign: (status, {experiment status: count})} of a store."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, tuple[str, dict[str, int]]] = {
            name: (status, {}) for name, status in con.execute("select name, status from campaigns")}
        for name, status, n in con.execute("select c.name, e.status, count(*) from experiments e join campaigns c "
                                           "on c.id = e.campaign_id group by c.name, e.status"):
            out[name][1][status] = n
        return out
    finally:
        con.close()


EXPECTED = {
    "fin.db": {"branin-rf": ("completed", {"succeeded": 8})},
    "gated.db": {"gated": ("running", {"awaiting_approval": 3})},
    "hand.db": {"hand": ("running", {"succeeded": 1, "proposed": 2})},
    "multi.db": {"branin-rf": ("completed", {"succeeded": 8}), "gated": ("running", {"awaiting_approval": 3}),
                 "hand": ("running", {"succeeded": 1, "proposed": 2})},
    "empty.db": {"empty": ("running", {})},
    "allfail.db": {"allfail": ("completed", {"failed": 8})},
}


def build(dest: Path, *, looplab: str, datasets: Path, env: dict[str, str] | None = None) -> Path:
    """Make the fixture folder ``dest`` (created; must not exist) and return it."""
    dest.mkdir(parents=True)
    for f in sorted(FIX.iterdir()):
        if f.is_file():
            (dest / f.name).write_text(f.read_text().replace("@DATASETS@", str(datasets)))
    shutil.copyfile(POOL, dest / "pool.csv")
    env = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="2", NO_COLOR="1")
    b = _Builder(dest, looplab, env)
    b.branin_rf("fin.db")
    b.gated("gated.db")
    b.hand("hand.db")
    b.branin_rf("multi.db")
    b.gated("multi.db")
    b.hand("multi.db", worksheet="ws.csv")
    b.empty("empty.db")
    b.allfail("allfail.db")
    b.robstop("robstop.db")
    for db, want in EXPECTED.items():
        got = _contents(dest / db)
        if got != want:
            raise FixtureError(f"{db} holds {json.dumps(got)}, not {json.dumps(want)}")
    rob = _contents(dest / "robstop.db")
    if list(rob) != ["rob"] or rob["rob"][0] != "stopped" or rob["rob"][1].get("succeeded"):
        raise FixtureError(f"robstop.db holds {json.dumps(rob)}, not rob stopped by its failures")
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[-1])
    build(Path(sys.argv[1]), looplab=str(Path(sys.executable).parent / "looplab"),
          datasets=REPO.parent / "shared" / "datasets")
    print(f"fixtures in {sys.argv[1]}")
