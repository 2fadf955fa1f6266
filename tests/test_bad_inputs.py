"""The bad-input corpus: every case ends in one clear line (or a 4xx from the robot), never a traceback.

Each command-line case is one line of ``CLI_CASES``: how to make the input (an edit of the
Branin example campaign, a file of tests/bad_inputs/, a generated text, a broken store, a bad
option) and the start of the one ``error`` line it must print. The runner checks, for every
case: exit code 2, no "Traceback" anywhere, exactly that many error lines (one, unless the case
says otherwise), the line naming the field, file or option, and what the case must keep intact.
Each robot case is one line of ``ROBOT_CASES``: a request body and the 4xx (or the failed job)
the real FastAPI app must answer with, never a 500.

To add a case, add one line to the table of its kind.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from oracles import safe_yaml
from orchestrator.cli import app
from orchestrator.store import Store

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
BRANIN = (ROOT / "campaigns" / "branin_gp_ei.yaml").read_text()
ORACLE = "kind: function\n  params: {function: branin}"
ALLOY_POOL_CAMPAIGN = f"""name: alloy
space:
  pool: {{path: {ROOT / 'campaigns' / 'data' / 'alloy_cuagau_emt.csv'}, inputs: [x_Cu, x_Ag, x_Au]}}
objective: {{name: mixing_energy, goal: min}}
oracle: {{kind: lookup}}
budget: {{max_experiments: 10}}
"""  # the oracle block of BRANIN, to swap for another
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ----------------------------------------------------------------------------- making inputs

Make = Callable[[Path, list], list[str]]  # (tmp_path, cleanups) -> the command's arguments


def _write(tmp: Path, text: str) -> str:
    path = tmp / "campaign.yaml"
    path.write_text(text)
    return str(path)


def edit(old: str, new: str) -> Make:
    """``validate`` the Branin example with ``old`` replaced by ``new``."""
    assert old in BRANIN, f"test setup: {old!r} is not in the example campaign"
    return lambda tmp, _: ["validate", _write(tmp, BRANIN.replace(old, new, 1))]


def gp_params(params: str) -> Make:
    """``validate`` the Branin example with these params of its GP (``"maxiter: 5"``)."""
    return edit("  kind: gp\n", f"  kind: gp\n  params: {{{params}}}\n")


def x2_choices(choices: str) -> Make:
    """``validate`` the Branin example with x2 categorical, these choices (``"[a, b]"``)."""
    return edit("{name: x2, type: float, low: 0.0, high: 15.0}", f"{{name: x2, type: categorical, choices: {choices}}}")


def oracle(kind: str, params: str = "{}") -> Make:
    """``validate`` the Branin example with another oracle (plugins of tests/bad_inputs/plugins)."""
    return edit(ORACLE, f"kind: {kind}\n  params: {params}")


def generated(make_text: Callable[[], str]) -> Make:
    return lambda tmp, _: ["validate", _write(tmp, make_text())]


def corpus(name: str) -> Make:
    return lambda tmp, _: ["validate", _write(tmp, (CORPUS / name).read_text())]


def run_with(*options: str) -> Make:
    """``run`` the (valid) Branin example on a fresh store with bad options."""
    return lambda tmp, _: ["run", _write(tmp, BRANIN), "--store", f"sqlite:///{tmp}/s.db", "-q", *options]


def daemon_with(*options: str) -> Make:
    return lambda tmp, _: ["daemon", str(tmp), "--store", f"sqlite:///{tmp}/s.db", *options]


def store(setup: Callable[[Path, list], str]) -> Make:
    """``run`` the Branin example against the store URL that ``setup`` prepares."""
    return lambda tmp, cleanups: ["run", _write(tmp, BRANIN), "--store", setup(tmp, cleanups), "--max-steps", "1",
                                  "-q"]


def deep_description(levels: int) -> str:
    return BRANIN.replace("description: GP + log-EI", "description: " + "[" * levels + "]" * levels + "\nx: GP")


def unknown_keys(n: int) -> str:
    return BRANIN + "".join(f"unknown_key_{i:05d}: {i}\n" for i in range(n))


def garbage_store(tmp: Path, _: list) -> str:
    (tmp / "s.db").write_bytes(bytes(range(256)) * 20)
    return f"sqlite:///{tmp}/s.db"


def store_under_a_file(tmp: Path, _: list) -> str:
    (tmp / "notes.txt").write_text("a file, not a folder\n")
    return f"sqlite:///{tmp}/notes.txt/runs/s.db"


def read_only_uri(tmp: Path, _: list) -> str:
    Store(f"sqlite:///{tmp}/s.db").close()
    return f"sqlite:///file:{tmp}/s.db?mode=ro&uri=true"


def read_only_file(tmp: Path, cleanups: list) -> str:
    """A store whose file cannot be written: chmod 444 (and, for root, who may write anyway, chattr +i)."""
    db = tmp / "s.db"
    Store(f"sqlite:///{db}").close()
    db.chmod(0o444)
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(db)],
                                                             capture_output=True).returncode != 0:
            pytest.skip("running as root, and chattr +i is not available here: root writes read-only files")
        cleanups.append(lambda: subprocess.run(["chattr", "-i", str(db)], check=True))
    return f"sqlite:///{db}"


def unchanged(name: str) -> Callable[[Path, bytes], None]:
    return lambda tmp, before: None if (tmp / name).read_bytes() == before else pytest.fail(f"{name} was changed")


@dataclass(frozen=True)
class Case:
    id: str
    make: Make
    start: str  # the error line starts with "error " + this ({file}: the campaign file, {tmp}: the folder)
    phrase: str = ""  # ...and holds this
    lines: int = 1  # error lines printed in all
    keep: str = ""  # a file in tmp_path whose bytes must not change


BIG = "9" * 5000
CLI_CASES = [
    # -- YAML: what a YAML 1.1 loader would silently change, duplicates, bombs, size
    Case("seed-yes", edit("seed: 7", "seed: yes"), "{file}: seed: ",
         "must be a whole number (got a string 'yes'); looplab reads YAML 1.2"),
    Case("seed-true", edit("seed: 7", "seed: true"), "{file}: seed: ", "not the boolean true"),
    Case("low-true", edit("low: -5.0", "low: true"), "{file}: space.parameters[0].low: ", "not the boolean true"),
    Case("log-yes", edit("high: 10.0}", "high: 10.0, log: yes}"), "{file}: space.parameters[0].log: ",
         "must be true or false (got a string 'yes'); looplab reads YAML 1.2"),
    Case("choices-the-same-in-a-csv-cell", x2_choices("[1, '1', b]"),
         "{file}: space.parameters[1].choices: ", "choice '1' and 1 are the same in a CSV cell"),
    Case("choices-one-and-one-point-zero", x2_choices("[1, 1.0, b]"),
         "{file}: space.parameters[1].choices: ", "choice 1.0 and 1 are the same in a CSV cell"),
    Case("choices-the-same-number", x2_choices("['1', '01', b]"),  # a lookup read both as 1 (round seven)
         "{file}: space.parameters[1].choices: ", "choices '1' and '01' are the same number (1)"),
    Case("choice-with-spaces-at-its-ends", x2_choices("[a, 'a ', b]"),
         "{file}: space.parameters[1].choices: ", "choice 'a ' has spaces at its ends"),
    Case("choice-empty", x2_choices("['', b]"),
         "{file}: space.parameters[1].choices: ", "choice '' is empty"),
    Case("sum-constraint-with-a-single-point", edit("\nobjective:", "\n  constraints:\n    - {type: sum, parameters: "
                                                    "[x1, x2], total: 25}\nobjective:"),
         "{file}: space.constraints[0].total: ", "25 is the most the parameters can sum to"),
    Case("sum-constraint-with-almost-no-room", edit("\nobjective:", "\n  constraints:\n    - {type: sum, parameters: "
                                                    "[x1, x2], total: 24.999}\nobjective:"),
         "{file}: space.constraints: ", "the bounds leave almost no room on the simplex"),
    Case("function-on-a-categorical-input", x2_choices("[a, b]"),
         "{file}: oracle.params.function: ", "'branin' takes numbers, and the input x2 is categorical"),
    Case("gp-noise-floor-above-the-data", gp_params("noise_floor: 1e300"),
         "{file}: model.params.noise_floor: ", "less than or equal to 0.5"),
    Case("lookup-column-is-an-input", generated(lambda: ALLOY_POOL_CAMPAIGN.replace(
        "oracle: {kind: lookup}", "oracle: {kind: lookup, params: {column: x_Cu}}")),
         "{file}: oracle.params.column: ", "'x_Cu' is an input of the space"),
    Case("yaml-binary-tag", edit("name: branin-gp-ei", "name: !!binary aGVsbG8="),
         "{file}: line 3, column 7: ", "the tag !!binary is not read in a config file"),
    Case("choices-booleans", x2_choices("[true, false]"),
         "{file}: space.parameters[1].choices: ", "quote it ('true')"),
    Case("plugin-param-boolean", edit("{function: branin}", "{function: branin, noise: true}"),
         "{file}: oracle.params.noise: ", "not the boolean true"),
    Case("duplicate-key", edit("seed: 7\n", "seed: 7\nseed: 8\n"), "{file}: line 5, column 1: ",
         "key 'seed' appears twice in one mapping (first at line 4)"),
    Case("duplicate-nested-key", edit("  goal: min\n", "  goal: min\n  goal: max\n"), "{file}: line 13, column 3: ",
         "key 'goal' appears twice"),
    Case("integer-of-5000-digits", edit("seed: 7", f"seed: {BIG}"), "{file}: line 4, column 7: ",
         "has too many digits"),
    Case("nested-60-deep", generated(lambda: deep_description(60)), "{file}: line 5, column ",
         "nested more than 50 levels deep"),
    Case("nested-100000-deep", generated(lambda: deep_description(100_000)), "{file}: line 5, column ",
         "nested more than 50 levels deep"),
    Case("billion-laughs", corpus("billion_laughs.yaml"), "{file}: line 9, column 8: ",
         "aliases expand to more than 10,000 values"),
    Case("alias-in-its-own-anchor", corpus("self_alias.yaml"), "{file}: line 3, column 24: ",
         "alias *d points into its own anchor &d"),
    Case("file-over-256-kB", generated(lambda: BRANIN + "# " + "x" * 300_000 + "\n"), "{file}: the file is 301 kB",
         "at most 256 kB"),
    Case("5000-unknown-keys", generated(lambda: unknown_keys(5000)), "{file}: unknown_key_00000: unknown key",
         "and 4980 more problems", lines=21),
    Case("not-a-regular-file", lambda tmp, _: ["validate", "/dev/null"], "/dev/null: is not a regular file"),
    # -- numbers that are not numbers
    Case("low-inf", edit("low: -5.0", "low: -.inf"), "{file}: space.parameters[0].low: ",
         "must be a finite number (got -inf)"),
    Case("high-inf", edit("high: 10.0", "high: .inf"), "{file}: space.parameters[0].high: ", "finite number"),
    Case("bounds-1e308", edit("low: -5.0, high: 10.0", "low: -1e308, high: 1e308"),
         "{file}: space.parameters[0].high: ", "high - low overflows"),
    Case("int-bounds-beyond-2^53", edit("{name: x2, type: float, low: 0.0, high: 15.0}",
                                        "{name: x2, type: int, low: 0, high: 100000000000000000000}"),
         "{file}: space.parameters[1].high: ", "less than or equal to 9007199254740992"),
    Case("stop-at-nan", edit("max_experiments: 30", "max_experiments: 30\n  stop_at: .nan"),
         "{file}: budget.stop_at: ", "must be a finite number (got nan)"),
    Case("target-value-nan", edit("goal: min", "goal: target\n  target_value: .nan"),
         "{file}: objective.target_value: ", "must be a finite number (got nan)"),
    # -- plugins (tests/bad_inputs/plugins, on the import path)
    Case("plugin-raises-on-import", oracle("badplugin_raises:Oracle"), "{file}: oracle.kind: ",
         "importing it raised RuntimeError: no instrument connected on /dev/ttyUSB0"),
    Case("plugin-syntax-error", oracle("badplugin_syntax:Oracle"), "{file}: oracle.kind: ",
         "SyntaxError in "),
    Case("plugin-exits-on-import", oracle("badplugin_exits:Oracle"), "{file}: oracle.kind: ",
         "importing it raised SystemExit: this plugin needs Python 4"),
    Case("plugin-validator-raises", oracle("badplugin_validators:DividingOracle", "{scale: 0}"),
         "{file}: oracle.params: ", "failed while checking its params (ZeroDivisionError: float division by zero)"),
    Case("plugin-check-config-raises", oracle("badplugin_validators:CheckingOracle"), "{file}: oracle.params: ",
         "failed while checking its params (KeyError: 'calibration')"),
    Case("kind-is-a-number", oracle("badplugin_not_plugins:LIMIT"), "{file}: oracle.kind: ",
         "is a float value, not a class"),
    Case("kind-is-a-function", oracle("badplugin_not_plugins:evaluate"), "{file}: oracle.kind: ",
         "is a function, not a class"),
    Case("kind-is-a-plain-class", oracle("badplugin_not_plugins:NothingToCall"), "{file}: oracle.kind: ",
         "names the class NothingToCall, which is not an oracle"),
    Case("model-kind-is-an-oracle", edit("kind: gp", "kind: oracles.functions:FunctionOracle"),
         "{file}: model.kind: ", "which is not a model: a model needs the methods fit(X, y) and predict(X)"),
    Case("acquisition-kind-is-a-model", edit("kind: ei", "kind: orchestrator.models.forest:RandomForestSurrogate"),
         "{file}: acquisition.kind: ", "which is not an acquisition"),
    # -- stores (--store); the file that is there must be left as it was
    Case("store-corrupted", store(garbage_store), "--store: cannot open", "not a looplab (SQLite) database",
         keep="s.db"),
    Case("store-under-a-file", store(store_under_a_file), "--store: cannot put a database at",
         "notes.txt' is a file, not a folder", keep="notes.txt"),
    Case("store-is-a-folder", store(lambda tmp, _: f"sqlite:///{tmp}"),
         "--store: '{tmp}' (from sqlite:///{tmp}) is a folder", "give a database file"),
    Case("store-read-only-uri", store(read_only_uri), "--store: cannot open", "read-only", keep="s.db"),
    Case("store-read-only-file", store(read_only_file), "--store: cannot open", "read-only", keep="s.db"),
    # -- options
    Case("max-steps-negative", run_with("--max-steps", "-1"), "--max-steps: must be at least 1 (got -1)"),
    Case("max-steps-zero", run_with("--max-steps", "0"), "--max-steps: must be at least 1 (got 0)"),
    Case("poll-interval-negative", run_with("--poll-interval", "-1"), "--poll-interval: must be greater than 0"),
    Case("poll-interval-zero", run_with("--poll-interval", "0"), "--poll-interval: must be greater than 0"),
    Case("poll-interval-nan", run_with("--poll-interval", "nan"), "--poll-interval: must be a finite number"),
    Case("poll-interval-of-years", run_with("--poll-interval", "1e9"), "--poll-interval: must be at most 86400 s"),
    Case("max-steps-not-a-number", run_with("--max-steps", "x"), "Invalid value for '--max-steps'", "--help"),
    Case("unknown-option", run_with("--max-step", "3"), "No such option: --max-step",
         "(Possible options: --max-steps)"),
    Case("daemon-workers-zero", daemon_with("--workers", "0"), "--workers: must be at least 1 (got 0)"),
    Case("daemon-interval-negative", daemon_with("--interval", "-1"), "--interval: must be greater than 0"),
    Case("daemon-rescan-of-weeks", daemon_with("--rescan", "1e6"), "--rescan: must be at most 86400 s"),
    Case("daemon-rescan-inf", daemon_with("--rescan", "inf"), "--rescan: must be a finite number"),
    # -- a campaign that cannot mean what it says
    Case("objective-named-as-an-input", edit("name: value", "name: x1"), "{file}: objective.name: ",
         "'x1' is also an input of the space"),
    # -- found by the fuzz round of 2026-12-03: infinite plugin params, settings nothing reads
    Case("acquisition-param-inf", edit("kind: ei", "kind: ucb\n  params: {beta: .inf}"),
         "{file}: acquisition.params.beta: ", "must be a finite number, not inf"),
    Case("acquisition-param-1e999", edit("kind: ei", "kind: ei\n  params: {xi: 1e999}"),
         "{file}: acquisition.params.xi: ", "must be a finite number, not inf"),
    Case("acquisition-param-text-inf", edit("kind: ei", "kind: ucb\n  params: {beta: inf}"),
         "{file}: acquisition.params.beta: ", "must be a finite number, not inf"),
    Case("model-param-inf", edit("kind: gp", "kind: gp\n  params: {noise_floor: .inf}"),
         "{file}: model.params.noise_floor: ", "must be a finite number (got inf)"),
    Case("target-value-with-goal-min", edit("goal: min", "goal: min\n  target_value: 3"), "{file}: objective: ",
         "target_value is read only with goal: target"),
    Case("batch-over-the-budget", edit("batch_size: 1", "batch_size: 50"), "{file}: ",
         "acquisition.batch_size (50) exceeds budget.max_experiments (30)"),
    Case("sum-constraint-lists-one-twice", edit("objective:", "  constraints:\n    - {type: sum, parameters: [x1, x1],"
                                                             " total: 5}\nobjective:"),
         "{file}: space.constraints[0].parameters[1]: ", "'x1' is listed twice in this constraint"),
    # -- found by the fuzz round of 2026-12-04: one line per field of a union, not one per member
    Case("union-field-one-line", edit("kind: gp", "kind: gp\n  params: {lengthscale_prior: wide}"),
         "{file}: model.params.lengthscale_prior: ",
         "must be true, false, 'auto', 'gamma', 'dim-scaled', 'long' or 'none' (got a string 'wide')"),
    # -- found by the fuzz round of 2026-12-04 (second): a parameter named id made a campaign run by hand untellable
    Case("parameter-named-id", edit("{name: x1,", "{name: id,"), "{file}: space: parameters[0].name: ",
         "'id' is reserved"),
    # -- found on 2026-12-05 (round ten): ask wrote a worksheet whose ' y ' column tell then refused
    Case("objective-name-with-edge-spaces", edit("name: value", "name: ' value '"), "{file}: objective.name: ",
         "' value ' has spaces at its ends; write 'value'"),
    Case("campaign-named-like-a-file", edit("name: branin-gp-ei", "name: other.yaml"), "{file}: name: ",
         "ends like a campaign file's name"),
    Case("transform-with-the-target-acquisition", lambda tmp, _: ["validate", _write(tmp, (
        BRANIN.replace("goal: min", "goal: target\n  target_value: 1.0").replace("kind: gp\n", "kind: gp\n  "
                       "transform: log\n").replace("kind: ei", "kind: target")))],
         "{file}: model.transform: ", "acquisition 'target' models the raw objective"),
    Case("initial-method-without-a-design", edit("  n: 5\n  method: sobol", "  n: 0\n  method: lhs"),
         "{file}: initial.method: ", "there is no initial design to draw (initial.n is 0)"),
    Case("failures-of-the-manual-oracle", lambda tmp, _: ["validate", _write(tmp, BRANIN.replace(
        ORACLE, "kind: manual") + "failures: {retries: 3}\n")], "{file}: failures: ",
         "the manual oracle's results are values a person tells"),
    Case("parameter-name-with-a-line-break", edit("{name: x1,", '{name: "x1\\n",'), "{file}: space: parameters[0].name: ",
         "holds a control character"),
    # -- found on 2026-12-04 (evening): an objective named id made a worksheet with two columns 'id'
    Case("objective-named-id", edit("  name: value", "  name: ID"), "{file}: objective: name: ", "'ID' is reserved"),
    Case("objective-unit-with-a-line-break", edit("  goal: min", '  goal: min\n  unit: "eV\\n"'),
         "{file}: objective: unit: ", "holds a control character"),
    Case("quoted-number", edit("max_experiments: 30", "max_experiments: '30'"), "{file}: budget.max_experiments: ",
         "must be a number, not the string '30' (remove the quotes)"),
    Case("quoted-number-in-plugin-params", edit("kind: gp", "kind: gp\n  params: {restarts: '1'}"),
         "{file}: model.params.restarts: ", "must be a number, not the string '1' (remove the quotes)"),
    Case("daemon-interval-past-the-calendar", daemon_with("--interval", "1e12", "--exit-when-done"), "--interval: ",
         "must be at most 86400 s (got 1e+12): a campaign ticked less often than daily"),
    Case("budget-too-large-for-the-store", edit("max_experiments: 30", "max_experiments: 100000000000000000000000"),
         "{file}: budget.max_experiments: ", "less than or equal to 1000000000"),
    # settings the campaign would never read (found by the fuzz round of 2026-12-04)
    Case("gp-categorical-option-on-a-numeric-space", gp_params("tie_categorical: true"),
         "{file}: model.params.tie_categorical: ", "every input of this campaign is numeric"),
    Case("model-plugin-that-cannot-be-built", edit("  kind: gp\n", "  kind: models_for_tests:NeedsArgument\n"),
         "{file}: model.kind: ", "'models_for_tests:NeedsArgument' needs the argument(s) alpha to be built"),
    Case("initial-design-of-millions", generated(lambda: BRANIN.replace("max_experiments: 30", "max_experiments: 50000000")
                                                 .replace("n: 5", "n: 50000000")),
         "{file}: initial.n: ", "less than or equal to 10000"),
    Case("gp-maxiter-past-any-fit", gp_params("maxiter: 1000000000"),
         "{file}: model.params.maxiter: ", "less than or equal to 10000"),
    Case("gp-inducing-without-the-sparse-gp", gp_params("sparse_above: null, inducing: 64"),
         "{file}: model.params.inducing: ", "sparse_above: null keeps the exact GP always"),
    Case("gp-rank-inputs-without-a-pool", gp_params("rank_inputs: true"),
         "{file}: model.params.rank_inputs: ", "this campaign's space is continuous"),
    Case("min-distance-on-a-pool", generated(lambda: ALLOY_POOL_CAMPAIGN + "acquisition: {kind: ei, min_distance: 0.01}\n"),
         "{file}: ", "acquisition.min_distance: applies to continuous spaces"),
    Case("log-file-is-a-folder", lambda tmp, _: ["run", _write(tmp, BRANIN), "--store", f"sqlite:///{tmp}/s.db", "-q",
                                                 "--log-file", str(tmp)],
         "--log-file: ", "exists and is not a regular file (a folder, device or pipe)"),
]


# ----------------------------------------------------------------------------- the runner


@pytest.fixture(scope="module")
def plugin_folder(tmp_path_factory) -> Path:
    """tests/bad_inputs/plugins copied to a folder on the import path (``*.py.broken`` become ``*.py``:
    a file that is not valid Python stays out of the source tree's own .py files)."""
    folder = tmp_path_factory.mktemp("plugins")
    for f in (CORPUS / "plugins").iterdir():
        shutil.copy(f, folder / f.name.removesuffix(".broken"))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str]) -> Outcome:
    result = CliRunner().invoke(app, args, env={"NO_COLOR": "1", "COLUMNS": "400"})
    stderr = ANSI.sub("", result.stderr)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))  # seen by the no-traceback check
    return Outcome(result.exit_code, ANSI.sub("", result.stdout), stderr)


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_bad_input_is_one_line_and_exit_2(case: Case, tmp_path: Path, plugin_folder: Path):
    cleanups: list[Callable[[], object]] = []
    try:
        args = case.make(tmp_path, cleanups)
        before = (tmp_path / case.keep).read_bytes() if case.keep else b""
        out = invoke(args)
        if case.keep:
            assert (tmp_path / case.keep).read_bytes() == before, f"{case.keep} was changed"
    finally:
        for undo in cleanups:
            undo()
    assert "Traceback" not in out.output, out.output
    assert out.exit_code == 2, f"exit code {out.exit_code}\n{out.output}"
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == case.lines, "\n".join(lines)
    start = "error " + case.start.format(file=tmp_path / "campaign.yaml", tmp=tmp_path)
    assert lines[0].startswith(start), f"{lines[0]!r} does not start with {start!r}"
    assert case.phrase in "\n".join(lines), f"{case.phrase!r} not in:\n" + "\n".join(lines)
    assert all(ln.startswith("error ") for ln in lines)


def test_every_file_of_the_corpus_has_a_case():
    source = Path(__file__).read_text()
    for f in [*CORPUS.glob("*.yaml"), *(CORPUS / "plugins").iterdir()]:
        name = f.name if f.suffix == ".yaml" else f.name.split(".")[0] + ":"
        assert name in source, f"tests/bad_inputs/{f.relative_to(CORPUS)} is used by no case"


# ----------------------------------------------------------------------------- in a real process


def _limited_memory() -> None:  # the child's address space: 2 GB (the billion laughs once took 3 GB)
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


@pytest.mark.parametrize("name,phrase", [
    ("billion_laughs.yaml", "aliases expand to more than 10,000 values"),
    ("self_alias.yaml", "points into its own anchor"),
])
def test_yaml_bombs_in_a_real_process_with_2_GB(tmp_path, name, phrase):
    """`python -m orchestrator validate` with its memory capped: the bomb is refused, not expanded."""
    path = tmp_path / name
    shutil.copy(CORPUS / name, path)
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "validate", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, preexec_fn=_limited_memory,
                          env=dict(os.environ, NO_COLOR="1", COLUMNS="400"))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error {path}: line ") and phrase in lines[0], proc.stderr


# ----------------------------------------------------------------------------- YAML 1.2, not 1.1


@pytest.mark.parametrize("text,value", [
    ("yes", "yes"), ("NO", "NO"), ("on", "on"), ("Off", "Off"), ("y", "y"),  # YAML 1.1: booleans
    ("true", True), ("False", False),
    ("010", 10), ("0o17", 15), ("0x1F", 31), ("-5", -5),  # 1.1: 010 was 8
    ("1_000", "1_000"), ("1_0.5", "1_0.5"),  # 1.1: 1000 and 10.5 (fuzz round twenty: budget 1_0 was 10)
    ("1e3", 1000.0), ("1.5", 1.5), (".5", 0.5), ("-.inf", float("-inf")),  # 1.1: 1e3 was a string
    ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("=", "="),  # 1.1: 5400, a date, an error
    ("~", None), ("null", None), ("'yes'", "yes"),
])
def test_scalars_are_read_as_yaml_1_2(text, value):
    assert safe_yaml.load(f"v: {text}") == {"v": value}


def test_a_choice_no_stays_the_string_no(tmp_path):
    from orchestrator.config import load_campaign

    path = tmp_path / "c.yaml"
    path.write_text(BRANIN.replace("{name: x2, type: float, low: 0.0, high: 15.0}",
                                   "{name: x2, type: categorical, choices: [YES, NO, maybe]}")
                    .replace(ORACLE, "kind: manual"))  # the Branin function takes numbers only
    spec = load_campaign(path).spec
    assert spec.space.parameters[1].choices == ["YES", "NO", "maybe"]


@pytest.mark.parametrize("text,value", [
    # fuzz round twenty: PyYAML 6 told merged keys apart by the identity of their text, so a key of both
    # mappings was the first's when Python shared the string ('b') and the last's when not ('batch_size')
    ("a: {<<: [{batch_size: 2}, {batch_size: 3, kind: ucb}]}", {"batch_size": 2, "kind": "ucb"}),
    ("a: {<<: [{b: 2}, {b: 3, kind: ucb}]}", {"b": 2, "kind": "ucb"}),
    ("x: &x {batch_size: 2, k: 1}\ny: &y {batch_size: 3, k: 2}\na: {<<: [*x, *y], k: 9}", {"batch_size": 2, "k": 9}),
    ("a: {<<: {batch_size: 2}, batch_size: 5}", {"batch_size": 5}),
    # the re-run: keys told apart as they load (1, 1.0 and 0x1 are one key; 1 and '1' two)
    ("a: {<<: [{1: x}, {1.0: y}, {0x1: z}]}", {1: "x"}),
    ("a: {<<: [{1: x}, {'1': y}]}", {1: "x", "1": "y"}),
])
def test_a_key_of_several_merged_mappings_is_the_first_ones_and_the_mappings_own_wins(text, value):
    assert safe_yaml.load(text)["a"] == value


def test_digits_grouped_with_underscores_are_text_and_a_campaign_number_says_how_to_write_them(tmp_path):
    """Fuzz round twenty: `max_experiments: 1_0`, `high: 1_0` and `beta: 1_0` were read as 10 (YAML 1.1), while
    tell, import and every number option refuse 1_0; and `name: 1_0` was told to be quoted as '10'."""
    from orchestrator.config import load_campaign
    from orchestrator.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(BRANIN.replace("max_experiments: 30", "max_experiments: 3_0").replace("high: 15.0", "high: 1_5.0")
                    .replace("name: branin-gp-ei", "name: 1_0"))
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    said = sorted(str(p) for p in err.value.problems)
    assert said == ["budget.max_experiments: must be a number, not the string '3_0' (YAML reads digits grouped with "
                    "'_' as text: write 30)",
                    "space.parameters[1].high: must be a number, not the string '1_5.0' (YAML reads digits grouped "
                    "with '_' as text: write 15.0)"], said


def test_anchors_within_the_budget_still_work():
    data = safe_yaml.load("base: &b {low: 0, high: 1}\np: {<<: *b, name: x}\nq: *b\n")
    assert data["p"] == {"low": 0, "high": 1, "name": "x"} and data["q"] == {"low": 0, "high": 1}


@pytest.mark.parametrize("text,fragment", [
    # explicit tags brought back YAML 1.1's readings, or a traceback (fuzz round of 2026-12-05)
    ("!!bool maybe", "!!bool 'maybe' is not true or false"),
    ("!!bool yes", "!!bool 'yes' is not true or false"),
    ("!!float abc", "!!float 'abc' is not a number"),
    ("!!float 1:30", "!!float '1:30' is not a number"),  # 1.1: 90.0
    ('!!float ""', "!!float '' is not a number"),
    ("!!int 1.5", "!!int '1.5' is not an integer"),  # it said "has too many digits"
    ("!!null x", "!!null 'x' is not null"),
    ('"a\\ud800b"', "half of a UTF-16 pair"),  # a lone surrogate crashed report, status and export later
    ("{<<: {a: 1}, <<: {b: 2}}", "the merge key << appears twice in one mapping"),  # the last one won
    ('"pool.csv\\0"', "holds a NUL character"),  # a path with one was a traceback (embedded null byte)
    # fuzz round fourteen: read as 0 (a CSV cell of it is refused)
    ("1e-400", "1e-400 is too small for a number (below 5e-324 it would be read as 0)"),
    ("!!float -2.5e-999", "is too small for a number"),
    ("!!int 1_000", "!!int '1_000' is not an integer"),  # YAML 1.2 has no '_' in numbers
    # the re-run of round twenty: a key twice inside a merged mapping was taken silently
    ("{kind: ucb, <<: {batch_size: 1, batch_size: 2}}", "key 'batch_size' appears twice in one mapping"),
    ("{<<: [{k: 1}, {k: 2, k: 3}]}", "key 'k' appears twice in one mapping"),
])
def test_explicit_tags_lone_surrogates_and_two_merges_are_refused_with_their_line(text, fragment):
    with pytest.raises(safe_yaml.StrictYAMLError) as err:
        safe_yaml.load(f"v: {text}")
    assert fragment in str(err.value) and "line 1" in str(err.value), err.value


@pytest.mark.parametrize("text,value", [("!!bool true", True), ("!!float 5", 5.0), ("!!float 0x1f", 31.0),
                                        ("!!float -.inf", float("-inf")), ("!!int 1000", 1000), ("!!str 5", "5"),
                                        ("!!null", None), ('"caf\\u00e9"', "caf\u00e9"), ("0.0e-400", 0.0),
                                        ("-0.0", -0.0), ("5e-324", 5e-324)])
def test_explicit_tags_that_agree_with_yaml_1_2_are_read(text, value):
    assert safe_yaml.load(f"v: {text}") == {"v": value}


@pytest.mark.parametrize("data,fragment", [
    (b"name: t\nseed:\t1\n", "replace the tab with spaces"),
    ("name: caf\u00e9\n".encode("latin-1"), "the file is not UTF-8 text (byte 0xe9 on line 1); save it as UTF-8"),
    ("name: t\n".encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
    ("name: t\n".encode("utf-16-le"), "the file holds NUL bytes (line 1): it is UTF-16 or binary"),
])
def test_tabs_and_other_encodings_say_how_to_fix_the_file(tmp_path, data, fragment):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and fragment in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("field", ["space.pool.path", "oracle.params.path", "initial.data",
                                   "model.params.source[0].path"])
def test_a_loop_of_links_is_a_file_that_cannot_be_opened_not_a_traceback(tmp_path, field):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "pool.csv").write_text("x,y\n1,2\n2,3\n3,1\n")
    pool = "loop1" if field == "space.pool.path" else "pool.csv"
    extra = {"oracle.params.path": ("oracle: {kind: lookup}", "oracle: {kind: lookup, params: {path: loop1}}"),
             "initial.data": ("initial: {n: 1}", "initial: {n: 1, data: loop1}"),
             "model.params.source[0].path": ("model: {kind: gp}", "model: {kind: transfer, params: {method: "
                                             "prior-mean, source: [{path: loop1, objective: y}]}}")}.get(field)
    text = (f"name: loops\nspace:\n  pool: {{path: {pool}, inputs: [x]}}\nobjective: {{name: y, goal: max}}\n"
            "oracle: {kind: lookup}\nmodel: {kind: gp}\ninitial: {n: 1}\nbudget: {max_experiments: 2}\n")
    if extra:
        text = text.replace(*extra)
    (tmp_path / "c.yaml").write_text(text)
    for command in (["validate"], ["run", "-q"], ["ask"]):
        result = CliRunner().invoke(app, [command[0], str(tmp_path / "c.yaml"), *command[1:], "--store",
                                          f"sqlite:///{tmp_path / 's.db'}"][: 2 if command == ["validate"] else None])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert f"{field}: " in result.output and "Too many levels of symbolic links" in result.output, result.output
        assert not (tmp_path / "s.db").exists()  # a refused run or ask leaves no empty store behind


# ----------------------------------------------------------------------------- a stopped campaign's reasons


def test_a_stopped_campaigns_reason_is_whole_even_with_a_colon(tmp_path, plugin_folder):
    """The reason used to be cut at its first colon ("reasons: the robot at http.")."""
    text = (BRANIN.replace(ORACLE, "kind: badplugin_validators:Unreachable\n  params: {}")
            .replace("budget:", "executor: {kind: inline}\nfailures: {min_experiments: 3}\nbudget:"))
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    out = invoke(["run", str(path), "--store", f"sqlite:///{tmp_path}/s.db", "-q"])
    assert "Traceback" not in out.output, out.output
    flat = " ".join(out.output.split())
    assert "stopped" in flat
    assert ("reasons: RuntimeError: the robot at http://127.0.0.1:9/jobs did not answer: connection refused"
            in flat), flat
    assert re.search(r"connection refused at badplugin_validators\.py:\d+ \(5x\)", flat), flat


# ----------------------------------------------------------------------------- the mock robot


@dataclass(frozen=True)
class RobotCase:
    id: str
    body: Callable[[], bytes]
    status: int  # 200: accepted, and the job must have failed with ``phrase`` as its reason
    phrase: str


def jobs(*params: dict) -> Callable[[], bytes]:
    return lambda: json.dumps({"experiments": [{"id": f"e{i}", "params": p} for i, p in enumerate(params)]}).encode()


def raw(text: bytes) -> Callable[[], bytes]:
    return lambda: text


ROBOT_CASES = [
    RobotCase("param-overflows-the-truth", jobs({"x1": 1e200, "x2": 1.0}), 200,
              "invalid params: the ground truth cannot be computed at x1=1e+200, x2=1.0 (OverflowError"),
    RobotCase("param-1e308", jobs({"x1": 1e308, "x2": 1e308}), 200, "the ground truth cannot be computed"),
    # fuzz round twelve: a campaign input the robot never reads ran to the end, reporting its "best" value
    RobotCase("a-param-the-truth-does-not-read", jobs({"x1": 1.0, "x2": 1.0, "catalyst_mg": 2.0}), 200,
              "invalid params: unknown parameter(s) 'catalyst_mg': this robot's ground truth takes x1, x2 and would "
              "ignore the rest"),
    RobotCase("integer-beyond-a-float", raw(b'{"experiments": [{"id": "e0", "params": {"x1": 1' + b"0" * 400
                                            + b', "x2": 1}}]}'), 200,
              "parameter 'x1' is too large for a number (an integer of 401 digits)"),
    RobotCase("integer-of-5000-digits", raw(b'{"experiments": [{"id": "e0", "params": {"x1": 1' + b"0" * 5000
                                            + b', "x2": 1}}]}'), 400, "the JSON body cannot be read"),
    RobotCase("deep-json", raw(b'{"experiments": [{"id": "e0", "params": {"x": ' + b"[" * 100_000 + b"]" * 100_000
                               + b"}}]}"), 400, "nests lists and objects 100004 levels deep; at most 32"),
    RobotCase("params-over-64-kB", jobs({"x1": 1.0, "x2": 1.0, "note": "x" * 70_000}), 413,
              "its params take 70,0"),
    RobotCase("body-over-1-MB", jobs(*[{"x1": 1.0, "x2": 1.0, "note": "x" * 20_000}] * 60), 413,
              "the request body is over 1,000,000 bytes"),
    RobotCase("inf-in-an-invalid-body", raw(b'{"experiment": [{"id": "e0", "params": {"x1": 1e999, "x2": 1}}]}'), 422,
              '"loc": ["body", "experiments"], "msg": "Field required"'),  # its echo of 1e999 was a 500
    RobotCase("body-of-10-MB", jobs({"x1": 1.0, "x2": 1.0, "note": "x" * 10_000_000}), 413,
              "the request body is over 1,000,000 bytes"),
]


@pytest.fixture(scope="module")
def robot(tmp_path_factory):
    """The real FastAPI app of ``looplab mock-robot serve`` (Branin, fast clock), in process."""
    from fastapi.testclient import TestClient

    from oracles.robot.config import parse_config
    from oracles.robot.lab import Lab
    from oracles.robot.server import create_app
    from oracles.robot.truth import build_truth

    cfg = parse_config({"speedup": 1000, "ground_truth": {"kind": "function", "function": "branin"}})
    lab = Lab(cfg, build_truth(cfg.ground_truth), tmp_path_factory.mktemp("robot") / "robot.db")
    with TestClient(create_app(cfg, lab), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("case", ROBOT_CASES, ids=lambda c: c.id)
def test_the_robot_answers_bad_requests_with_a_4xx_or_a_failed_job(case: RobotCase, robot):
    body = case.body()
    # a fresh id per case: the robot keeps jobs, and a repeated id is answered from its first post
    body = body.replace(b'"id": "e', f'"id": "{case.id}-e'.encode())
    response = robot.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == case.status, response.text[:500]
    if case.status == 200:
        job = response.json()["jobs"][0]
        assert job["status"] == "failed" and case.phrase in job["error"], job
    else:
        detail = response.json()["detail"]
        assert case.phrase in (detail if isinstance(detail, str) else json.dumps(detail)), response.text[:500]


def test_the_robot_refuses_a_chunked_body_over_1_MB(robot):
    """No Content-Length to check first: the body is counted as it arrives."""
    chunks = (b"x" * 10_000 for _ in range(200))
    response = robot.post("/jobs", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over 1,000,000 bytes" in response.json()["detail"]


def test_the_robot_still_takes_a_good_batch_after_the_bad_ones(robot):
    response = robot.post("/jobs", json={"experiments": [{"id": "good-1", "params": {"x1": 1.0, "x2": 2.0}}]})
    assert response.status_code == 200 and response.json()["jobs"][0]["status"] in ("queued", "running")
    listed = robot.get("/jobs").json()
    assert all(len(json.dumps(j["params"])) < 64_000 for j in listed["jobs"])  # nothing oversized was stored


def test_a_pool_path_that_is_a_url_says_so(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(ALLOY_POOL_CAMPAIGN.replace(str(ROOT / "campaigns" / "data" / "alloy_cuagau_emt.csv"),
                                                "https://example.com/pool.csv"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "space.pool.path: 'https://example.com/pool.csv' is a URL; looplab reads a pool from a local file" \
        in result.output, result.output


@pytest.mark.parametrize("sep, name", [(";", "semicolons"), ("\t", "tabs")])
def test_a_pool_separated_by_semicolons_or_tabs_says_so(tmp_path, sep, name):
    pool = tmp_path / "p.csv"
    pool.write_text(sep.join(["x_Cu", "x_Ag", "x_Au", "mixing_energy"]) + "\n" + sep.join(["0.5", "0.25", "0.25",
                                                                                          "-0.1"]) + "\n")
    path = tmp_path / "c.yaml"
    path.write_text(ALLOY_POOL_CAMPAIGN.replace(str(ROOT / "campaigns" / "data" / "alloy_cuagau_emt.csv"), "p.csv"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"looks separated by {name}: save the file with commas as the separator" in result.output, \
        result.output


@pytest.mark.parametrize("args", [
    ["validate", "{long}.yaml"],
    ["run", str(ROOT / "campaigns" / "branin_gp_ei.yaml"), "--store", "sqlite:///{tmp}/{long}.db"],
    ["status", "--store", "sqlite:///{tmp}/{long}.db"],
    ["daemon", "{tmp}/{long}", "--store", "sqlite:///{tmp}/s.db"],
    ["run", str(ROOT / "campaigns" / "branin_gp_ei.yaml"), "--store", "sqlite:///{tmp}/s.db", "--log-file",
     "{tmp}/{long}.log"],
])
def test_a_file_name_over_the_file_systems_limit_is_one_line(tmp_path, args):
    """Found by the fuzz round of 2026-12-04 (evening): Python's Path.exists() raises on a name over 255 bytes
    (ENAMETOOLONG) instead of saying False, and eight commands ended in a traceback."""
    long = "a" * 300
    argv = [a.format(long=long, tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "orchestrator", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if "--store" in args and "{long}" in args[args.index("--store") + 1]:  # named as the option's (round nineteen)
        assert len(lines) == 1 and lines[0].startswith("error --store: ") and "has a name of 303 bytes" in lines[0] \
            and "at most 255 bytes" in lines[0], lines
    else:
        assert len(lines) == 1 and lines[0].startswith("error '") and "file name too long" in lines[0], lines
    assert not (tmp_path / "s.db").exists()  # nothing was stored


@pytest.mark.parametrize("smiles, fragment", [
    ({1: "C", "b": "CC"}, "space.parameters[1].smiles: the key 1 must be text (YAML reads it as an integer 1); "
                          "quote it: '1':"),
    ({1.5: "C", "b": "CC"}, "space.parameters[1].smiles: the key 1.5 must be text"),
])
def test_a_number_where_text_is_wanted_names_the_mapping_and_says_to_quote_it(tmp_path, smiles, fragment):
    """The path was garbled (smiles[1].[key], smiles.1.5.[key]) and no fix was given (fuzz round of 2026-12-05)."""
    from orchestrator.config import load_campaign
    from orchestrator.errors import ConfigError

    keys = ", ".join(f"{k}: {v}" for k, v in smiles.items())
    path = tmp_path / "c.yaml"
    path.write_text(BRANIN.replace("{name: x2, type: float, low: 0.0, high: 15.0}",
                                   f"{{name: x2, type: categorical, choices: [a, b], smiles: {{{keys}}}}}")
                    .replace(ORACLE, "kind: manual"))
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert any(str(p).startswith(fragment) for p in err.value.problems), err.value


@pytest.mark.parametrize("old, new, field", [
    ("kind: gp", "kind: 42", "model.kind"),
    ("kind: ei", "kind: 1.5", "acquisition.kind"),
])
def test_a_number_that_should_name_a_plugin_is_not_told_to_be_quoted(tmp_path, old, new, field):
    """`kind: 42` (or physics: 42) was told to quote it, which leads only to "unknown kind '42'" (fuzz round
    sixteen's leftover): it names the plugin listing instead."""
    from orchestrator.config import load_campaign
    from orchestrator.errors import ConfigError

    assert old in BRANIN
    path = tmp_path / "c.yaml"
    path.write_text(BRANIN.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    said = [str(p) for p in err.value.problems]
    assert any(s.startswith(f"{field}: must name a plugin (got ") and "`looplab plugins` lists" in s
               and "quote" not in s for s in said), said
