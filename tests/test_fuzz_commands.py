"""The command fuzz corpus (slow; `make test-slow`): bad command lines, stores and CSVs, each ending as recorded.

``tests/fuzz_commands/cases/`` holds some 270 bash scripts, one bad input each, named by what they try:
``a`` ask, ``b`` benchmark and its ``--strategies``/``--transfer-fraction``, ``c`` approve/reject/edit and the
control commands, ``d`` daemon, ``e`` export/report, ``g`` signals and two processes on one store,
``i`` import, ``m`` the mock robot (and a robot that dies under a campaign), ``p`` pool CSVs, ``r`` run and
validate, ``s`` store URLs and damaged or foreign databases, ``t`` tell, ``w`` closed pipes and full disks
(/dev/full), ``x`` outputs aimed at the store or a campaign file, Unicode digits, ``y`` a pool CSV changed
under a stored campaign. A case runs in its own copy of a fixture folder that ``fuzz_commands/
make_fixtures.py`` builds once per test process with looplab itself (stores with a completed, a gated, a
manual, an empty, an all-failed and a failure-stopped campaign; campaign YAMLs; the alloy pool).

``fuzz_commands/helpers.sh``, sourced first, defines ``L``: looplab under ``timeout 120`` that writes
STORE-CHANGED-ON-REFUSAL to ``.flags`` when a command that failed changed a store of the folder, and TIMEOUT
when it ran out of time; cases add their own flags (DATALOSS, HANG, ...). The test runs each case and
checks it against ``fuzz_commands/expected.tsv``: the exit code (the case's own, usually its last command's),
no "Traceback" anywhere, no flag but the ones the row accepts (``flags``, the reason in ``note``), a
refusal (exit code 2) printed as ``error`` lines (a daemon's log lines may come first), and the field the
first error line names: the option, argument, file or phrase it starts with (empty: not checked). ``note``
also says why an exit code differs from what the case's author expected (a command that does the sensible
thing rather than refuse, or the reverse). When a change of looplab changes a case's outcome on purpose,
update its row (the reason goes in the commit); the assertion message prints the case's new outcome.

Nothing in the cases is a path of this machine: the test gives them, in the environment, ``$LL`` (the
CLI), ``$PY`` (its python), ``$REPO`` and ``$DATASETS`` (../shared/datasets). The cases that write to
/dev/full are skipped where there is none; the transfer ones where the datasets are missing.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DATASETS, ROOT

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "fuzz_commands"
LOOPLAB = str(Path(sys.executable).parent / "looplab")
LIMIT = 150  # seconds per case; a case past it hangs
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
# a line of a daemon's log (it logs to stderr, then ends with its error line)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+ ")


@dataclass(frozen=True)
class Row:
    rc: int
    field: str
    flags: frozenset[str]
    note: str


def _expected() -> dict[str, Row]:
    with open(CORPUS / "expected.tsv", newline="") as f:
        return {r["case"]: Row(int(r["rc"]), r["field"], frozenset(filter(None, r["flags"].split(","))), r["note"])
                for r in csv.DictReader(f, delimiter="\t")}


EXPECTED = _expected()


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    """The folder every case starts from (a copy of it), built by make_fixtures.py."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_fixtures
    finally:
        sys.path.remove(str(CORPUS))
    return make_fixtures.build(tmp_path_factory.mktemp("fuzz_commands") / "fix", looplab=LOOPLAB,
                               datasets=DATASETS, env=_env())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LOOPLAB_STORE")}
    return {**env, **ONE_THREAD, "TF_CPP_MIN_LOG_LEVEL": "2", "LL": LOOPLAB, "PY": sys.executable,
            "REPO": str(ROOT), "DATASETS": str(DATASETS)}


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    flags: str
    seconds: float
    work: Path

    def flag_kinds(self) -> set[str]:
        """The flags' names (STORE-CHANGED-ON-REFUSAL, TIMEOUT, DATALOSS, ...), without their details."""
        return {m.group(1) for line in self.flags.splitlines() if (m := re.match(r"^([A-Z][A-Z-]+)(:|$)", line))}

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error")]

    def first_line(self) -> str:
        """stderr's first non-empty line; after a daemon's log (which may run over several lines), the first
        error line."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        if lines and LOG_LINE.match(lines[0]):
            return next((line for line in lines if line.startswith("error")), "")
        return lines[0] if lines else ""

    def field(self) -> str:
        """What the first error line names: its text up to the first ': ', ' (' or '; ' (two parts for a
        campaign file's field: 'pc.yaml: space.pool.path'), the case's folder written @WORK@, 60 characters
        at most."""
        errors = self.error_lines()
        if not errors:
            return ""
        text = errors[0][len("error"):].strip().replace(str(self.work), "@WORK@")
        parts = re.split(r": | \(|; ", text, maxsplit=2)
        head = parts[0]
        if head.endswith((".yaml", ".yml")) and len(parts) > 1 and text.startswith(head + ": "):
            head = f"{head}: {parts[1]}"
        return head[:60]

    def describe(self, case: str) -> str:
        return (f"{case}: exit code {self.rc} after {self.seconds:.1f} s; flags {sorted(self.flag_kinds())}; "
                f"field {self.field()!r}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}\n"
                f"--- .flags\n{self.flags[-2000:]}")


def run_case(case: str, fixtures: Path, tmp: Path) -> Outcome:
    """Run cases/CASE.sh with bash in a fresh copy of ``fixtures`` (tmp/work). Its processes (robots,
    background runs) are ended with it."""
    work = tmp / "work"
    shutil.copytree(fixtures, work, symlinks=True)
    script = f'source "{CORPUS / "helpers.sh"}"; source "{CORPUS / "cases" / (case + ".sh")}"'
    t0 = time.monotonic()
    # into files, not pipes: a process the case left behind would keep a pipe open
    with open(tmp / "stdout", "wb") as out, open(tmp / "stderr", "wb") as err:
        p = subprocess.Popen(["bash", "-c", script], cwd=work, env=_env(), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, start_new_session=True)
        try:
            rc = p.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # whatever the case started and left running
            except ProcessLookupError:
                pass
            p.wait()
    seconds = time.monotonic() - t0
    flags = (work / ".flags").read_text(errors="replace") if (work / ".flags").exists() else ""
    if rc is None:
        flags += f"CASE-TIMEOUT: the case did not end within {LIMIT} s\n"
        rc = -1
    return Outcome(rc, (tmp / "stdout").read_text(errors="replace"), (tmp / "stderr").read_text(errors="replace"),
                   flags, seconds, work)


def _skip_reason(case: str) -> str | None:
    text = (CORPUS / "cases" / f"{case}.sh").read_text()
    if "/dev/full" in text and not Path("/dev/full").is_char_device():
        return "no /dev/full on this machine"
    if "transfer.yaml" in text and not (DATASETS / "direct_arylation" / "data.csv").is_file():
        return f"the direct arylation dataset is not at {DATASETS} (see ../shared/datasets/README)"
    return None


def test_every_case_has_a_row():
    cases = {p.stem for p in (CORPUS / "cases").glob("*.sh")}
    assert cases == set(EXPECTED), (f"cases without a row in expected.tsv: {sorted(cases - set(EXPECTED))}; "
                                    f"rows without a case: {sorted(set(EXPECTED) - cases)}")


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_case_ends_as_recorded(case: str, fixtures: Path, tmp_path: Path):
    if reason := _skip_reason(case):
        pytest.skip(reason)
    row = EXPECTED[case]
    got = run_case(case, fixtures, tmp_path)
    where = got.describe(case)
    assert "Traceback" not in got.out + got.err, where
    assert not got.flag_kinds() - row.flags, f"flags not accepted in expected.tsv\n{where}"
    assert got.rc == row.rc, where
    if got.rc == 2:
        assert got.first_line().startswith("error"), f"a refusal should begin with an error line\n{where}"
    if row.field:
        assert got.field() == row.field, f"the first error should name {row.field!r}\n{where}"
