"""`looplab validate` and `looplab schema`: bad campaign files are a first-class case.

Each broken file is a valid example campaign (campaigns/branin_gp_ei.yaml or
campaigns/alloy_emt_lookup.yaml) with one thing broken, written into tmp_path.
For each we check exit code 2, one ``error <file>: <field path>: <message>``
line naming the exact field path, the key content of the message, and that no
traceback is printed. Most cases run in-process through typer's CliRunner
(fast); the YAML-syntax, unknown-kind, missing-file and all-examples cases also
run ``python -m orchestrator`` as a real subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.config import load_campaign
from orchestrator.errors import ConfigError
from orchestrator.plugins import installed

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"
BRANIN = (CAMPAIGNS / "branin_gp_ei.yaml").read_text()
ALLOY = (CAMPAIGNS / "alloy_emt_lookup.yaml").read_text()

# what an unknown kind lists is every installed plugin of its role: the built-ins below, plus whatever a user
# has pip-installed (e.g. the README's example plugin, tests/plugin_example), so the lists are read from the
# entry points, and test_builtin_plugins_are_installed checks that the built-ins are among them
BUILTIN = {"acquisition": "ei, max-variance, pi, target, ucb", "model": "gp, physics-gp, pinn, random-forest, transfer",
           "oracle": "ase-emt, function, lookup, manual, robot"}
INSTALLED_ACQUISITIONS = ", ".join(sorted(installed("acquisition")))
INSTALLED_MODELS = ", ".join(sorted(installed("model")))
INSTALLED_ORACLES = ", ".join(sorted(installed("oracle")))

# a small pool with the columns of the committed alloy pool (8 distinct candidates)
POOL_CSV = """x_Cu,x_Ag,x_Au,lattice_constant,mixing_energy
0.0,0.0,1.0,4.056,0.0
0.25,0.0,0.75,3.98,-0.012
0.5,0.0,0.5,3.90,-0.020
0.0,0.25,0.75,4.06,-0.003
0.0,0.5,0.5,4.07,-0.004
0.25,0.25,0.5,3.99,-0.010
0.5,0.25,0.25,3.88,-0.008
1.0,0.0,0.0,3.59,0.0
"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ----------------------------------------------------------------------------- helpers


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    env["COLUMNS"] = "400"
    return env


def run_subprocess(*args: str | Path) -> Outcome:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", *map(str, args)],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60,
    )
    return Outcome(proc.returncode, ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr))


def run_inprocess(*args: str | Path) -> Outcome:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", "COLUMNS": "400"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # make an uncaught exception visible to the "no traceback" checks below
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        return Outcome(result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr) + tb)
    return Outcome(result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr))


def broken(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new`` (``old`` must occur, or the test would prove nothing)."""
    assert old in text, f"test setup: {old!r} not in the example campaign"
    return text.replace(old, new, 1)


@pytest.fixture
def campaign_file(tmp_path: Path):
    """Write campaign text into tmp_path (alloy text is pointed at a small pool CSV there)."""
    (tmp_path / "pool.csv").write_text(POOL_CSV)

    def write(text: str, name: str = "campaign.yaml") -> Path:
        text = text.replace("data/alloy_cuagau_emt.csv", "pool.csv")
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def assert_invalid(out: Outcome, file: Path, field_path: str, *fragments: str) -> str:
    """Exit 2, no traceback, every stderr line an ``error`` line, and one naming ``field_path``.

    Returns the matching line. ``field_path`` "" means a problem with the file as a whole.
    """
    assert "Traceback" not in out.output, out.output
    assert out.exit_code == 2, f"exit code {out.exit_code}\n{out.output}"
    lines = out.error_lines()
    assert lines, "no error printed"
    for ln in lines:
        assert ln.startswith(f"error {file}: "), f"not an error line for {file}: {ln!r}"
    assert "ok " not in out.stdout
    prefix = f"error {file}: {field_path}: " if field_path else f"error {file}: "
    matching = [ln for ln in lines if ln.startswith(prefix)]
    assert matching, f"no line starting with {prefix!r} in:\n" + "\n".join(lines)
    line = next((ln for ln in matching if all(f in ln for f in fragments)), None)
    assert line is not None, f"no line with {fragments} among:\n" + "\n".join(matching)
    return line


# ----------------------------------------------------------------------------- the examples


def test_the_unbroken_examples_are_valid(campaign_file):
    for text in (BRANIN, ALLOY):
        path = campaign_file(text)
        out = run_inprocess("validate", path)
        assert out.exit_code == 0, out.output
        assert out.stdout.startswith(f"ok {path}: ")
        assert out.stderr == ""


def test_a_pool_input_that_never_varies_is_noted(tmp_path):
    """Valid (a transfer source may vary in it), but it cannot tell candidates apart: validate says so."""
    (tmp_path / "p.csv").write_text("a,T,y\n1,105,1\n2,105,2\n3,105,3\n")
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nspace:\n  pool: {path: p.csv, inputs: [a, T]}\nobjective: {name: y}\n"
                    "oracle: {kind: lookup}\nbudget: {max_experiments: 3}\ninitial: {n: 1}\n")
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output
    assert "note " in out.stderr and "'T' has the same value in every candidate" in " ".join(out.stderr.split())
    assert "'a'" not in out.stderr


@pytest.mark.parametrize("path", sorted(CAMPAIGNS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_campaign_in_the_repository_validates(path):
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output
    assert f"ok {path}: campaign " in out.stdout
    assert "error" not in out.stderr


def test_all_campaigns_validate_in_a_subprocess():
    files = sorted(CAMPAIGNS.glob("*.yaml"))
    assert len(files) >= 2
    out = run_subprocess("validate", *files)
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    assert sum(ln.startswith("ok ") for ln in out.stdout.splitlines()) == len(files)


# ----------------------------------------------------------------------------- YAML syntax (subprocess)


def test_yaml_syntax_error_gives_line_and_column(campaign_file):
    path = campaign_file(broken(BRANIN, "  goal: min", "  goal: [min"))
    out = run_subprocess("validate", path)
    line = assert_invalid(out, path, "", "YAML syntax error at line 13, column 7")
    assert len(out.error_lines()) == 1, line


def test_a_bound_is_written_as_a_number_not_as_its_digits(campaign_file):
    """Fuzz round nineteen: a PINN's noise above its bound of 1e100 was told the bound as a 101-digit integer."""
    path = campaign_file(BRANIN.replace("kind: gp", "kind: gp\n  params: {noise_floor: 1e300}", 1))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "model.params.noise_floor", "input should be less than or equal to 0.5 (got 1e+300)")
    from oracles.safe_yaml import bound_message

    assert [bound_message("less_than_equal", {"le": v}) for v in (1e100, 86400.0, 4294967295, 0.5)] == [
        f"input should be less than or equal to {t}" for t in ("1e+100", "86400", "4294967295", "0.5")]


@pytest.mark.parametrize("path, words", [("''", "is empty; give the pool's CSV file"),
                                         ("/dev/stdin", "'/dev/stdin' is the standard input, which a campaign "
                                                        "cannot read again when it resumes")])
def test_a_pool_path_that_is_empty_or_the_standard_input_is_refused(campaign_file, path, words):
    """Fuzz round nineteen: /dev/stdin was resolved to '/proc/N/fd/pipe:[M]: file not found'."""
    assert "path: data/alloy_cuagau_emt.csv" in ALLOY
    path_ = campaign_file(ALLOY.replace("path: data/alloy_cuagau_emt.csv", f"path: {path}", 1))
    out = run_inprocess("validate", path_)
    assert_invalid(out, path_, "space.pool.path", words)


def test_yaml_tab_indentation_is_a_syntax_error(campaign_file):
    path = campaign_file(broken(BRANIN, "seed: 7\n", "seed: 7\n\tname: x\n"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "", "YAML syntax error at line 5, column 1", "'\\t'")


def test_yaml_mapping_values_error(campaign_file):
    path = campaign_file(broken(BRANIN, "seed: 7", "seed: 7\n  oops: : x"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "", "YAML syntax error at line 5", "mapping values are not allowed")


# ----------------------------------------------------------------------------- unknown kinds (subprocess)


@pytest.mark.parametrize(
    "old,new,field,hint,installed",
    [
        ("kind: ei", "kind: ucbb", "acquisition.kind", "did you mean 'ucb'", INSTALLED_ACQUISITIONS),
        ("kind: gp", "kind: gpp", "model.kind", "did you mean 'gp'", INSTALLED_MODELS),
        ("kind: function", "kind: functoin", "oracle.kind", "did you mean 'function'", INSTALLED_ORACLES),
    ],
    ids=["acquisition", "model", "oracle"],
)
def test_unknown_kind_answers_close_matches_and_installed(campaign_file, old, new, field, hint, installed):
    path = campaign_file(broken(BRANIN, old, new))
    out = run_subprocess("validate", path)
    role = field.split(".")[0]
    assert_invalid(out, path, field, f"unknown {role} kind '{new.split()[-1]}'", hint, f"installed: {installed}")
    assert len(out.error_lines()) == 1


@pytest.mark.parametrize("role", sorted(BUILTIN))
def test_builtin_plugins_are_installed(role):
    assert set(BUILTIN[role].split(", ")) <= set(installed(role))


def test_unknown_kind_without_close_match_still_lists_installed(campaign_file):
    path = campaign_file(broken(BRANIN, "kind: ei", "kind: zzqqxx"))
    out = run_inprocess("validate", path)
    line = assert_invalid(out, path, "acquisition.kind", f"installed: {INSTALLED_ACQUISITIONS}")
    assert "did you mean" not in line


def test_kind_as_unimportable_import_path(campaign_file):
    path = campaign_file(broken(BRANIN, "kind: function", "kind: no_such_module_xyz:Oracle"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "oracle.kind", "cannot import module 'no_such_module_xyz'")


# ----------------------------------------------------------------------------- structure: keys and types


@pytest.mark.parametrize(
    "base,old,new,field,fragments",
    [
        # unknown keys, with did-you-mean and the allowed keys
        ("branin", "budget:\n", "budgett:\n  max_experiments: 3\nbudget:\n", "budgett",
         ["unknown key", "did you mean 'budget'", "allowed keys: name, seed, description, space"]),
        ("branin", "  batch_size: 1", "  batch_sise: 1", "acquisition.batch_sise",
         ["unknown key", "did you mean 'batch_size'", "allowed keys: kind, params, batch_size"]),
        ("branin", "high: 15.0}", "high: 15.0, logg: true}", "space.parameters[1].logg",
         ["unknown key", "did you mean 'log'", "allowed keys: name, type, low, high, log"]),
        ("branin", "  method: sobol", "  method: sobol\n  size: 3", "initial.size",
         ["unknown key", "allowed keys: n, method"]),
        # wrong types and out-of-range values
        ("branin", "low: 0.0", "low: abc", "space.parameters[1].low", ["must be a number", "(got a string 'abc')"]),
        ("branin", "seed: 7", 'seed: "x"', "seed", ["must be a whole number", "(got a string 'x')"]),
        ("branin", "batch_size: 1", "batch_size: 0", "acquisition.batch_size",
         ["greater than or equal to 1", "(got 0)"]),
        ("branin", "max_experiments: 30", "max_experiments: lots", "budget.max_experiments",
         ["must be a whole number", "(got a string 'lots')"]),
        ("branin", "method: sobol", "method: grid", "initial.method", ["'random', 'sobol' or 'lhs'", "(got 'grid')"]),
        ("branin", "goal: min", "goal: minimise", "objective.goal", ["'max', 'min' or 'target'"]),
        ("branin", "name: branin-gp-ei", "name: 'has spaces!'", "name",
         ["letters, digits", "(got 'has spaces!')"]),
        ("branin", "type: float, low: 0.0", "type: flot, low: 0.0", "space.parameters[1]",
         ["unknown type 'flot'", "'float', 'int', 'categorical'"]),
        ("branin", "type: float, low: 0.0", "low: 0.0", "space.parameters[1]", ["missing 'type'"]),
        ("branin", "low: 0.0, ", "", "space.parameters[1].low", ["required field is missing"]),
        ("branin", "budget:\n  max_experiments: 30\n", "", "budget", ["required field is missing"]),
        ("branin", "params: {function: branin}", "params: [branin]", "oracle.params",
         ["must be a mapping of keys", "a list"]),
        ("branin", "{name: x2, type: float, low: 0.0, high: 15.0}",
         "{name: x2, type: categorical, choices: [a, a]}", "space.parameters[1].choices",
         ["'a' is listed twice"]),
        # fuzz round eleven: tell and import match levels in NFC, so these two could not be told apart
        ("branin", "{name: x2, type: float, low: 0.0, high: 15.0}",
         "{name: x2, type: categorical, choices: [caf\u00e9, cafe\u0301]}", "space.parameters[1].choices",
         ["are the same text written in two Unicode forms (caf+U+00E9 and cafe+U+0301)"]),
        # fuzz round twenty: two parameters that look the same made a worksheet no one could fill in
        ("branin", "{name: x2, type: float, low: 0.0, high: 15.0}",
         "{name: \"x\\u200b1\", type: float, low: 0.0, high: 15.0}", "space.parameters[1].name",
         ["look the same but are different text (x+U+200B1 and x1)"]),
        ("branin", "{name: x1, type: float, low: -5.0, high: 10.0}\n    - {name: x2, type: float, low: 0.0, high: 15.0}",
         "{name: caf\u00e9, type: float, low: -5.0, high: 10.0}\n    - {name: cafe\u0301, type: float, low: 0.0, "
         "high: 15.0}", "space.parameters[1].name",
         ["look the same but are different text (cafe+U+0301 and caf+U+00E9)"]),
        ("alloy", "[x_Cu, x_Ag, x_Au]", "[x_Cu, x_Ag, x_Au, \"x_\\u00adCu\"]", "space.pool.inputs",
         ["look the same but are different text (x_+U+00ADCu and x_Cu)"]),
        # the re-run: the objective beside an input, and a no-break space
        ("branin", "name: value\n", "name: \"x\\u200b1\"\n", "objective.name",
         ["look the same but are different text (x+U+200B1 and x1)"]),
        ("branin", "name: value\n", "name: \"yield\\u202etxt\"\n", "objective.name",
         ["yield+U+202Etxt holds U+202E RIGHT-TO-LEFT OVERRIDE, which makes the name display as other text"]),
        ("branin", "{name: x2, type: float, low: 0.0, high: 15.0}",
         "{name: \"x\\u00a01\", type: float, low: 0.0, high: 15.0}\n    - {name: \"x 1\", type: float, low: 0, high: 1}",
         "space.parameters[2].name", ["look the same but are different text (x 1 and x+U+00A01)"]),
        ("alloy", "[x_Cu, x_Ag, x_Au]", "x_Cu", "space.pool.inputs", ["must be a list", "a string 'x_Cu'"]),
        ("branin", "objective:\n  name: value\n  goal: min", "objective:", "objective",
         ["must be a mapping of keys", "an empty value"]),
        # low >= high, for float and int; log scale with low <= 0
        ("branin", "low: 0.0, high: 15.0", "low: 0.5, high: 0.2", "space.parameters[1].high",
         ["must be greater than low (got 0.2 <= 0.5)"]),
        ("branin", "low: -5.0, high: 10.0", "low: 3.0, high: 3.0", "space.parameters[0].high",
         ["must be greater than low (got 3 <= 3)"]),
        ("branin", "{name: x2, type: float, low: 0.0, high: 15.0}", "{name: x2, type: int, low: 9, high: 4}",
         "space.parameters[1].high", ["must be greater than low (got 4 <= 9)"]),
        ("branin", "high: 15.0}", "high: 15.0, log: true}", "space.parameters[1].log",
         ["log: true needs low > 0", "(got low = 0)"]),
        ("branin", "low: -5.0, high: 10.0}", "low: -5.0, high: 10.0, log: true}", "space.parameters[0].log",
         ["log: true needs low > 0", "(got low = -5)"]),
        # empty space, both kinds of space, constraints on a pool
        ("branin", "  parameters:\n    - {name: x1, type: float, low: -5.0, high: 10.0}\n"
                   "    - {name: x2, type: float, low: 0.0, high: 15.0}\n", "  {}\n", "space",
         ["the space is empty", "parameters:", "pool:"]),
        ("branin", "  parameters:\n    - {name: x1, type: float, low: -5.0, high: 10.0}\n"
                   "    - {name: x2, type: float, low: 0.0, high: 15.0}\n", "  parameters: []\n", "space",
         ["the space is empty", "parameters: lists no parameter"]),
        ("branin", "space:\n", "space:\n  pool: {path: pool.csv, inputs: [x_Cu]}\n", "space",
         ["either parameters: or pool:, not both"]),
        ("alloy", "objective:", "  constraints:\n    - {type: sum, parameters: [x_Cu, x_Ag]}\nobjective:", "space",
         ["constraints: apply to parameters:, not to a pool"]),
        # objective and budget
        ("branin", "goal: min", "goal: target", "objective", ["goal: target needs target_value"]),
        ("branin", "n: 5", "n: 50", "", ["initial.n (50) exceeds budget.max_experiments (30)"]),
    ],
    ids=[
        "unknown-top-level-key", "unknown-nested-key", "unknown-parameter-key", "unknown-initial-key",
        "low-not-a-number", "seed-not-an-int", "batch-size-zero", "budget-not-an-int", "bad-method",
        "bad-goal", "bad-name", "unknown-parameter-type", "missing-parameter-type", "missing-low",
        "missing-budget", "params-not-a-mapping", "duplicate-choice", "choice-in-two-unicode-forms",
        "names-with-an-invisible-character", "names-in-two-unicode-forms", "pool-inputs-with-a-soft-hyphen",
        "objective-like-an-input", "objective-with-a-right-to-left-override", "names-a-no-break-space-apart",
        "inputs-not-a-list", "objective-empty",
        "float-low-above-high", "float-low-equals-high", "int-low-above-high", "log-low-zero", "log-low-negative",
        "space-empty-mapping", "space-empty-parameters", "space-parameters-and-pool", "constraints-on-pool",
        "target-without-value", "initial-above-budget",
    ],
)
def test_structure_problem(campaign_file, base, old, new, field, fragments):
    path = campaign_file(broken(BRANIN if base == "branin" else ALLOY, old, new))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, field, *fragments)


def test_unknown_key_points_at_the_misspelt_key_and_the_missing_one(campaign_file):
    path = campaign_file(broken(BRANIN, "high: 15.0}", "hihg: 15.0}"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].hihg", "did you mean 'high'")
    assert_invalid(out, path, "space.parameters[1].high", "required field is missing")


# ----------------------------------------------------------------------------- meaning: plugins, pool, constraints


@pytest.mark.parametrize(
    "base,old,new,field,fragments",
    [
        ("branin", "kind: ei", "kind: ucb\n  params: {beta: -1}", "acquisition.params.beta",
         ["greater than 0", "(got -1)"]),
        ("branin", "kind: ei", "kind: ei\n  params: {xi: fast}", "acquisition.params.xi",
         ["must be a number", "(got a string 'fast')"]),
        ("branin", "params: {function: branin}", "params: {function: branin, nosie: 0.1}", "oracle.params.nosie",
         ["unknown key", "did you mean 'noise'", "allowed keys: function, noise"]),
        ("branin", "kind: ei", "kind: max-variance\n  params: {xi: 1}", "acquisition.params.xi",
         ["unknown key", "acquisition 'max-variance' takes no params"]),
        ("branin", "params: {function: branin}", "params: {function: bramin}", "oracle.params.function",
         ["'branin', 'hartmann3', 'hartmann6' or 'sphere'", "(got 'bramin')"]),
        ("branin", "params: {function: branin}", "params: {function: hartmann3}", "oracle.params.function",
         ["'hartmann3' takes 3 inputs but the space has 2"]),
        ("branin", "params: {function: branin}", "params: {}", "oracle.params.function",
         ["required field is missing"]),
        ("branin", "kind: ei", "kind: target", "acquisition.kind", ["needs objective.goal: target"]),
        ("alloy", "kind: lookup", "kind: lookup\n  params: {column: energy}", "oracle.params.column",
         ["'energy' is not a column of pool.csv", "columns: x_Cu, x_Ag, x_Au, lattice_constant, mixing_energy"]),
        ("alloy", "kind: lookup", "kind: lookup\n  params: {path: nowhere.csv}", "oracle.params.path",
         ["file not found", "nowhere.csv"]),
        ("alloy", "kind: lookup", "kind: lookup\n  params: {match: fuzzy}", "oracle.params.match",
         ["'exact' or 'nearest'", "(got 'fuzzy')"]),
        ("alloy", "n: 5", "n: 9", "initial.n", ["is more than the pool's 8 candidates (got 9)", "lower initial.n"]),
        ("branin", "kind: function\n  params: {function: branin}", "kind: lookup", "oracle.params.path",
         ["required", "the space is not a pool"]),
    ],
    ids=[
        "ucb-beta-negative", "ei-xi-not-a-number", "oracle-unknown-param", "params-for-paramless-plugin",
        "unknown-test-function", "function-wrong-dimension", "function-missing", "target-acquisition-needs-goal",
        "lookup-column-missing", "lookup-path-missing", "lookup-bad-match", "initial-above-pool-size",
        "lookup-without-pool",
    ],
)
def test_plugin_problem(campaign_file, base, old, new, field, fragments):
    path = campaign_file(broken(BRANIN if base == "branin" else ALLOY, old, new))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, field, *fragments)


def test_objective_that_is_not_a_lookup_column(campaign_file):
    """The lookup oracle's column defaults to the objective's name: say so, and list the columns."""
    path = campaign_file(broken(ALLOY, "name: mixing_energy", "name: energy"))
    out = run_inprocess("validate", path)
    line = next((ln for ln in out.error_lines() if "'energy'" in ln), "")
    field = line.removeprefix(f"error {path}: ").split(": ", 1)[0]
    # the field path is a plain path (no notes in it) and points at the column or the objective
    assert field in ("oracle.params.column", "objective.name"), line
    assert_invalid(out, path, field, "'energy' is not a column of pool.csv",
                   "lattice_constant, mixing_energy", "objective.name")


def test_look_alike_letters_and_invisible_characters_in_a_name_are_shown(campaign_file):
    """Fuzz round ten: an objective named with a Cyrillic і ('yіeld') or a key holding a zero-width space was
    quoted in the message exactly as the right name looks, so the user could not see what was wrong."""
    path = campaign_file(broken(ALLOY, "name: mixing_energy", "name: mixing_\u0435nergy"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "oracle.params.column", "'mixing_\u0435nergy' is not a column of pool.csv",
                   "(look-alike letters: 'mixing_\u0435nergy' holds U+0435 CYRILLIC SMALL LETTER IE)")
    path = campaign_file(broken(BRANIN, "high: 15.0}", "hi\u200bgh: 15.0}"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].hi\\u200bgh", "unknown key")
    greek = campaign_file(broken(ALLOY, "name: mixing_energy", "name: \u03bb_max"))  # a name on purpose
    assert "look-alike" not in run_inprocess("validate", greek).stderr


@pytest.mark.parametrize("value, got", [("yes", "a string 'yes'"), ("'on'", "a string 'on'"), ("1", "an integer 1"),
                                        ("'true'", "a string 'true'")])
def test_a_plugin_boolean_takes_only_true_or_false(campaign_file, value, got):
    """Fuzz round ten: pydantic reads 'yes', 'on', 'f', 1 and 0 as booleans, so `relax: on` in a plugin's params
    was taken, where looplab's own fields (YAML 1.2) refuse it."""
    live = (CAMPAIGNS / "alloy_emt_live.yaml").read_text()
    path = campaign_file(broken(live, "relax: true ", f"relax: {value} "))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "oracle.params.relax", f"must be true or false (got {got})")


def test_a_boolean_with_named_values_takes_them_and_true_or_false_only(campaign_file):
    """bool | Literal["auto"] fields (the GP's interactions, rank_inputs, lengthscale_prior): their named values
    are valid (fuzz round eleven caught the first version of the check above refusing them); 'yes' and 1 are
    not, and the message lists the names."""
    gp = broken(BRANIN, "  kind: gp\n", "  kind: gp\n  params: {interactions: auto, lengthscale_prior: gamma}\n")
    assert run_inprocess("validate", campaign_file(gp)).exit_code == 0
    path = campaign_file(gp.replace("interactions: auto", "interactions: 1").replace("gamma", "yes"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "model.params.interactions", "must be true, false or 'auto' (got an integer 1)")
    assert_invalid(out, path, "model.params.lengthscale_prior",
                   "must be true, false, 'auto', 'gamma', 'dim-scaled', 'long' or 'none' (got a string 'yes')")


@pytest.mark.parametrize("old, new, field, said", [
    ("max_experiments: 30", "max_experiments: .inf", "budget.max_experiments", "(got inf); write a whole number "
                                                                                 "such as 10"),
    ("  kind: gp\n", "  kind: gp\n  params: {maxiter: .nan}\n", "model.params.maxiter",
     "(got nan); write a whole number such as 10"),
    ("  kind: gp\n", "  kind: gp\n  params: {noise_floor: .nan}\n", "model.params.noise_floor",
     "(got nan); write a number such as 1.5 or 1e-3"),
])
def test_a_non_finite_number_is_told_the_kind_of_number_to_write(campaign_file, old, new, field, said):
    """Fuzz round eleven: a whole-number field given .inf or .nan was told to write 'a number such as 1.5',
    which it then refuses as not whole."""
    path = campaign_file(broken(BRANIN, old, new))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, field, f"must be a finite number {said}")


def test_digits_of_another_script_are_told_to_be_retyped_not_unquoted(campaign_file):
    """Fuzz round eleven: an unquoted `high: １０` (full-width digits, which YAML reads as text) was told to
    remove quotes it did not have."""
    path = campaign_file(broken(BRANIN, "high: 15.0}", "high: \uff11\uff15}"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].high", "must be a number, not the string '\uff11\uff15' (it "
                   "holds U+FF11 FULLWIDTH DIGIT ONE: write it with the digits 0-9)")
    path = campaign_file(broken(BRANIN, "high: 15.0}", "high: '15'}"))
    assert_invalid(run_inprocess("validate", path), path, "space.parameters[1].high", "(remove the quotes)")


def test_pool_csv_missing(campaign_file):
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", "data/missing.csv"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.path", "file not found", "missing.csv", "relative to the campaign file")
    # reported once, not again by the lookup oracle
    assert len(out.error_lines()) == 1, out.stderr


def test_pool_csv_lacks_an_input_column(campaign_file):
    path = campaign_file(broken(ALLOY, "[x_Cu, x_Ag, x_Au]", "[x_Cu, x_Ag, x_Pt]"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.inputs[2]", "column 'x_Pt' is not in pool.csv",
                   "columns: x_Cu, x_Ag, x_Au, lattice_constant, mixing_energy")


def test_pool_csv_empty(campaign_file, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", "empty.csv"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.path", "empty.csv is empty", "header line")


def test_pool_csv_without_candidate_rows(campaign_file, tmp_path):
    (tmp_path / "header.csv").write_text(POOL_CSV.splitlines()[0] + "\n")
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", "header.csv"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.path", "header.csv has no candidate rows")


CONSTRAINED = broken(
    BRANIN, "objective:",
    "  constraints:\n    - {type: sum, parameters: [x1, x2], total: 1}\nobjective:",
)


@pytest.mark.parametrize(
    "old,new,field,fragments",
    [
        ("name: x2", "name: x1", "space.parameters[1].name", ["'x1' is used twice"]),
        ("parameters: [x1, x2]", "parameters: [x1, x3]", "space.constraints[0].parameters[1]",
         ["no parameter named 'x3'", "(parameters: x1, x2)"]),
        ("total: 1", "total: 100", "space.constraints[0].total",
         ["cannot be reached", "between -5 and 25", "got total 100"]),
        ("total: 1", "total: -6", "space.constraints[0].total", ["cannot be reached", "got total -6"]),
        ("high: 15.0}", "high: 15.0, log: true}", "space.parameters[1].log", ["log: true needs low > 0"]),
        ("{name: x2, type: float, low: 0.0, high: 15.0}", "{name: x2, type: int, low: 0, high: 15}",
         "space.constraints[0].parameters[1]", ["'x2' must be a float parameter"]),
        ("parameters: [x1, x2]", "parameters: [x1]", "space.constraints[0].parameters",
         ["at least 2 items"]),
        ("- {type: sum,", "- {type: product,", "space.constraints[0].type", ["'sum'", "(got 'product')"]),
    ],
    ids=["duplicate-names", "sum-unknown-parameter", "sum-total-too-high", "sum-total-too-low",
         "log-in-constraint", "int-in-sum", "sum-of-one", "unknown-constraint-type"],
)
def test_space_problem(campaign_file, old, new, field, fragments):
    path = campaign_file(broken(CONSTRAINED, old, new))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, field, *fragments)


def test_constrained_space_itself_is_valid(campaign_file):
    path = campaign_file(broken(CONSTRAINED, "total: 1", "total: 5"))
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output


# ----------------------------------------------------------------------------- several problems at once


def test_structural_problems_are_reported_together(campaign_file):
    text = broken(BRANIN, "seed: 7", 'seed: "x"')
    text = broken(text, "low: 0.0, high: 15.0", "low: 0.5, high: 0.2")
    text = broken(text, "batch_size: 1", "batch_size: 0")
    text = broken(text, "  method: sobol", "  methd: sobol")
    path = campaign_file(text)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "seed", "must be a whole number")
    assert_invalid(out, path, "space.parameters[1].high", "must be greater than low (got 0.2 <= 0.5)")
    assert_invalid(out, path, "acquisition.batch_size", "greater than or equal to 1")
    assert_invalid(out, path, "initial.methd", "did you mean 'method'")
    assert len(out.error_lines()) == 4, out.stderr


def test_meaning_problems_are_reported_together(campaign_file):
    text = broken(CONSTRAINED, "name: x2", "name: x1")  # duplicate name, and the sum names x2
    text = broken(text, "kind: gp", "kind: gpp")
    text = broken(text, "kind: ei", "kind: ucbb")
    text = broken(text, "params: {function: branin}", "params: {function: branin, noise: -1}")
    path = campaign_file(text)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].name", "used twice")
    assert_invalid(out, path, "space.constraints[0].parameters[1]", "no parameter named 'x2'")
    assert_invalid(out, path, "model.kind", "did you mean 'gp'")
    assert_invalid(out, path, "acquisition.kind", "did you mean 'ucb'")
    assert_invalid(out, path, "oracle.params.noise", "greater than or equal to 0")
    assert len(out.error_lines()) == 5, out.stderr


def test_one_bad_file_among_good_ones(campaign_file):
    good = campaign_file(BRANIN, "good.yaml")
    bad = campaign_file(broken(BRANIN, "kind: ei", "kind: ucbb"), "bad.yaml")
    out = run_inprocess("validate", good, bad)
    assert out.exit_code == 2
    assert f"ok {good}: " in out.stdout
    assert len(out.error_lines()) == 1
    assert out.error_lines()[0].startswith(f"error {bad}: acquisition.kind: ")
    assert "Traceback" not in out.output


# ----------------------------------------------------------------------------- the file itself


@pytest.mark.parametrize(
    "text,got",
    [("", "an empty file"), ("# only a comment\n", "an empty file"), ("- a\n- b\n", "a list"),
     ("just words\n", "a str")],
    ids=["empty", "only-comment", "list", "scalar"],
)
def test_file_that_is_not_a_mapping(campaign_file, text, got):
    path = campaign_file(text)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "", f"a campaign file must be a mapping of keys (got {got})")
    assert len(out.error_lines()) == 1


def test_file_that_does_not_exist(tmp_path):
    path = tmp_path / "nope.yaml"
    out = run_subprocess("validate", path)
    assert_invalid(out, path, "", "file not found")


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: \xff\xfe\x00bad\n")
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "", "the file is not UTF-8 text (byte 0xff on line 1); save it as UTF-8")


def test_load_campaign_raises_config_error_with_paths(campaign_file):
    """The library API behind the CLI: one ConfigError holding every Problem."""
    path = campaign_file(broken(broken(BRANIN, "seed: 7", "seed: x"), "batch_size: 1", "batch_size: 0"))
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert [p.path for p in info.value.problems] == ["seed", "acquisition.batch_size"]
    assert info.value.source == str(path)


def test_values_that_look_like_rich_markup_are_printed_verbatim(campaign_file):
    path = campaign_file(broken(BRANIN, "seed: 7", 'seed: "[/x]"'))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "seed", "(got a string '[/x]')")


# ----------------------------------------------------------------------------- schema


def test_schema_is_json_with_the_top_level_sections():
    out = run_inprocess("schema")
    assert out.exit_code == 0, out.output
    schema = json.loads(out.stdout)
    props = schema["properties"]
    for key in ("space", "objective", "oracle", "model", "acquisition", "budget"):
        assert key in props
    assert set(schema["required"]) >= {"name", "space", "objective", "oracle", "budget"}
    assert schema["additionalProperties"] is False


def test_schema_checks_plugin_params_as_validate_does():
    """Every campaign we ship passes the schema; a misspelt or mistyped plugin param fails it, as
    `looplab validate` fails it, for a kind given explicitly and for the default kind left out."""
    import jsonschema
    import yaml

    from conftest import CAMPAIGNS

    out = run_inprocess("schema")
    schema = json.loads(out.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    docs = {p: yaml.safe_load(p.read_text()) for p in sorted(CAMPAIGNS.rglob("*.yaml"))}
    docs = {p: d for p, d in docs.items() if "space" in d}  # campaigns, not the mock robot's configs
    assert len(docs) >= 10
    for path, doc in docs.items():
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], (path, errors)
    model = schema["$defs"]["ModelSpec"]["properties"]["kind"]
    assert {"gp", "random-forest"} <= set(model["examples"])

    good = yaml.safe_load(BRANIN)
    assert not list(validator.iter_errors(good))

    def problems(section: str, block: dict) -> list[str]:
        doc = {**good, section: block}
        return [e.message for e in validator.iter_errors(doc)]

    assert problems("model", {"kind": "gp", "params": {"rank_inputs": "auto", "kernel": "matern32"}}) == []
    assert any("kernal" in m for m in problems("model", {"kind": "gp", "params": {"kernal": "rbf"}}))
    assert any("kernal" in m for m in problems("model", {"params": {"kernal": "rbf"}}))  # gp by default
    assert any("'matern12' is not one of" in m for m in problems("model", {"params": {"kernel": "matern12"}}))
    assert any("'big'" in m for m in problems("acquisition", {"kind": "ucb", "params": {"beta": "big"}}))
    assert problems("acquisition", {"kind": "ucb", "params": {"beta": 0.3}}) == []
    # an import-path kind is not known to the schema: its params are left to validate
    assert problems("model", {"kind": "mypkg.models:Mine", "params": {"anything": 1}}) == []


def test_structure_and_plugin_problems_are_reported_in_one_run(campaign_file):
    """A broken bound elsewhere must not hide an unknown kind: the user fixes both in one pass."""
    text = broken(broken(BRANIN, "high: 15.0", "high: -1.0"), "kind: ei", "kind: ucbb")
    path = campaign_file(text)
    out = run_inprocess("validate", path)
    assert out.exit_code == 2
    assert "space.parameters[1].high: must be greater than low" in out.stderr
    assert "acquisition.kind: unknown acquisition kind 'ucbb'; did you mean 'ucb'?" in out.stderr


@pytest.mark.parametrize("value, message", [
    ([0, 1, 1], "repeat[0]: input should be greater than 0 (got 0)"),
    (0, "repeat: input should be greater than 0 (got 0)"),
    ("x", "repeat: must be a whole number or a list of 3 values (got a string 'x')"),
])
def test_a_union_of_a_number_and_a_tuple_names_what_is_wrong_once(value, message):
    """Found by the fuzz round of 2026-12-04: the ASE oracle's repeat: [0, 1, 1] printed two lines naming
    pydantic's union members (repeat.constrained-int, repeat.tuple[constrained-int, ...][0])."""
    from pydantic import BaseModel, PositiveInt, ValidationError

    from orchestrator.config import problems_from_validation

    class Supercell(BaseModel):
        repeat: PositiveInt | tuple[PositiveInt, PositiveInt, PositiveInt] = 1

    with pytest.raises(ValidationError) as exc:
        Supercell(repeat=value)
    problems = problems_from_validation(exc.value, model=Supercell)
    assert [f"{p.path}: {p.message}" for p in problems] == [message]


def test_a_problem_two_checks_find_is_said_once():
    """Found by the fuzz round of 2026-12-04 (evening): a tab in a parameter name, in a file with several other
    problems, was found by two checks and printed twice. A ConfigError says each problem once, in order."""
    from orchestrator.errors import Problem

    tab, unit = Problem("space.parameters[1].name", "holds a tab"), Problem("objective.unit", "holds a newline")
    err = ConfigError([tab, unit, tab], source="c.yaml")
    assert err.problems == [tab, unit]
    assert err.format().splitlines() == ["c.yaml: space.parameters[1].name: holds a tab",
                                         "c.yaml: objective.unit: holds a newline"]
