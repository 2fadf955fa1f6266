"""The campaign-file fuzz corpus (slow; `make test-slow`): every case ends as recorded, never in a traceback or a hang.

``tests/fuzz_campaigns/cases/`` holds several hundred edits of four small valid campaigns (a Branin
function, the alloy pool, a transfer campaign, a physics-informed one): wrong types, out-of-range and
contradictory values, unknown keys, hostile YAML (aliases, tags, huge values), files that are not what
they claim to be, and valid controls. Each case is validated; a case ``validate`` accepts is then run
for two steps (``run --max-steps 2``), against a fresh SQLite store. A case that starts with ``# cmd:``
lines runs those commands instead; ``# norun`` keeps a case from running (it waits for a person by design).

``expected.tsv`` records, for every case and command, the exit code and the field the first error
names. The test checks each against it: the same exit code, no "Traceback" anywhere, no command past
the time limit, and a refusal printed as ``error`` lines, the first naming the recorded field. When
a change of looplab changes a case's outcome on purpose, update its row (the reason goes in the commit).

Paths in the cases are written as ``@ROOT@`` (the case's working folder, with ``data/`` and ``stores/``)
and ``@REPO@`` (this repository). The data the cases read are small committed CSVs and three made here:
the first rows of two Olympus datasets (read from ../shared/datasets, never copied into the repository)
and the committed alloy pool written with tabs.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATASETS, ROOT

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "fuzz_campaigns"
LOOPLAB = str(Path(sys.executable).parent / "looplab")
LIMIT = 150  # seconds per command; a case past it hangs
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="200")


def _expected() -> dict[str, list[tuple[str, int, str]]]:
    rows: dict[str, list[tuple[str, int, str]]] = {}
    with open(CORPUS / "expected.tsv", newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(r["case"], []).append((r["cmd"], int(r["rc"]), r["field"]))
    return rows


EXPECTED = _expected()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The folder the cases run in: data/ (committed CSVs and the three made here) and stores/."""
    if not (DATASETS / "olympus").is_dir():
        pytest.skip(f"the Olympus datasets are not at {DATASETS} (see ../shared/datasets/README)")
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(CORPUS / "data", root / "data")
    (root / "stores").mkdir()
    for name, rows in (("pce10", 60), ("wf3", 200)):
        lines = (DATASETS / "olympus" / f"photo_{name}" / "data.csv").read_text().splitlines()[:rows + 1]
        (root / "data" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    alloy = (ROOT / "campaigns" / "data" / "alloy_cuagau_emt.csv").read_text()
    (root / "data" / "pool.tsv").write_text(alloy.replace(",", "\t"))
    return root


def _run(args: list[str], cwd: Path) -> tuple[int, str, str]:
    try:
        p = subprocess.run([LOOPLAB, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"looplab {' '.join(args)} did not end within {LIMIT} s")
    return p.returncode, p.stdout, p.stderr


def _write_case(case: str, root: Path) -> tuple[Path, str]:
    text = (CORPUS / "cases" / f"{case}.yaml").read_text().replace("@ROOT@", str(root)).replace("@REPO@", str(ROOT))
    file = root / "cases" / f"{case}.yaml"
    file.parent.mkdir(exist_ok=True)
    file.write_text(text)
    return file, text


def _commands(case: str, text: str, file: Path, root: Path) -> list[tuple[str, list[str]]]:
    """The case's commands: its ``# cmd:`` lines ({f}: its file; {case:NAME}: another case's file, so that a
    case needing a store another case filled is whole by itself), else validate and a two-step run."""
    cmds = [line[len("# cmd:"):].strip() for line in text.splitlines() if line.startswith("# cmd:")]
    if cmds:
        out = []
        for i, c in enumerate(cmds):
            args = []
            for word in c.split():
                if word == "{f}":
                    word = str(file)
                elif word.startswith("{case:"):
                    word = str(_write_case(word[len("{case:"):-1], root)[0])
                args.append(word)
            out.append((f"cmd{i}", args))
        return out
    store = f"sqlite:///{root / 'stores' / (case + '.db')}"
    return [("validate", ["validate", str(file)]), ("run", ["run", str(file), "--store", store, "--max-steps", "2", "-q"])]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_case_ends_as_recorded(case: str, root: Path):
    file, text = _write_case(case, root)
    expected = {cmd: (rc, field) for cmd, rc, field in EXPECTED[case]}
    for cmd, args in _commands(case, text, file, root):
        if cmd not in expected:  # run: only when validate accepted the file (and the case may run)
            continue
        rc, out, err = _run(args, root)
        where = f"{case} {cmd}: looplab {' '.join(args)}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
        assert "Traceback" not in out + err, where
        assert rc == expected[cmd][0], where
        field = expected[cmd][1]
        if rc == 2:
            errors = [line for line in err.splitlines() if line.startswith("error")]
            assert errors, where
            assert field in errors[0], f"the first error should name {field!r}\n{where}"
    assert not (root / "pwned").exists() and not (root / "pwned2").exists(), "a YAML tag or a plugin ran a command"
