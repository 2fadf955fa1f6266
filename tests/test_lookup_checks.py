"""`looplab validate` refuses lookup-oracle campaigns whose experiments could only fail at run time.

Each case used to pass validate and then fail every (or some) experiment of the run: ``match: exact`` on a
continuous space ("no row ... matches"), an objective column beyond the model's range ("beyond +/-1e+150"),
a categorical choice the table lacks. Also: a SMILES encoding's ``components`` larger than the levels can
give was ignored (no reduction at all) instead of keeping what the levels span.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ALLOY_POOL
from test_validate import assert_invalid, run_inprocess

from orchestrator.config import load_campaign


def _write(tmp_path: Path, space: str, oracle: str, *, csv: str | None = None, objective: str = "y",
           name: str = "c.yaml") -> Path:
    if csv is not None:
        (tmp_path / "t.csv").write_text(csv)
    path = tmp_path / name
    path.write_text(f"name: checks\nseed: 0\nspace:\n{space}\nobjective: {{name: {objective}, goal: max}}\n"
                    f"oracle: {oracle}\nmodel: {{kind: random-forest}}\ninitial: {{n: 2}}\n"
                    "budget: {max_experiments: 4}\n")
    return path


ALLOY_FLOATS = """  parameters:
    - {name: x_Cu, type: float, low: 0.0, high: 1.0}
    - {name: x_Ag, type: float, low: 0.0, high: 1.0}
    - {name: x_Au, type: float, low: 0.0, high: 1.0}"""


# ----------------------------------------------------------------------------- match: exact on a float space


@pytest.mark.parametrize("match, said", [("", "exact (the default) needs"), (", match: exact", "exact needs")])
def test_exact_match_on_a_space_with_a_float_parameter_is_refused(tmp_path, match, said):
    path = _write(tmp_path, ALLOY_FLOATS, f"{{kind: lookup, params: {{path: {ALLOY_POOL}{match}}}}}",
                  objective="mixing_energy")
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "oracle.params.match", said, "the float parameter 'x_Cu'",
                   "use match: nearest", "make the space a pool of the table (space.pool:")
    assert len(out.error_lines()) == 1, out.stderr


def test_nearest_on_floats_and_exact_on_int_and_categorical_levels_are_accepted(tmp_path, store_url):
    path = _write(tmp_path, ALLOY_FLOATS, f"{{kind: lookup, params: {{path: {ALLOY_POOL}, match: nearest}}}}",
                  objective="mixing_energy")
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output

    # every combination of an int and a categorical parameter is a row: exact is right, and every experiment
    # finds its row
    rows = "\n".join(f"{n},{s},{n * 10 + ord(s)}" for n in (1, 2, 3) for s in "ab")
    path = _write(tmp_path, "  parameters:\n    - {name: n, type: int, low: 1, high: 3}\n"
                            "    - {name: s, type: categorical, choices: [a, b]}",
                  "{kind: lookup, params: {path: t.csv}}", csv=f"n,s,y\n{rows}\n", name="levels.yaml")
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output
    out = run_inprocess("run", path, "--store", store_url, "--quiet")
    assert out.exit_code == 0, out.output
    assert "0 failed" in out.output and "4 succeeded" in out.output, out.output


# ----------------------------------------------------------------------------- objective values too large


@pytest.mark.parametrize("values, line", [(["3e+200", "3.1e+200", "-4e+200"], 2), (["1.5", "2.5", "-2e+151"], 4)])
def test_objective_values_beyond_the_models_range_are_refused_naming_the_first_line(tmp_path, values, line):
    csv = "a,b,y\n" + "".join(f"{k},{k % 2},{v}\n" for k, v in enumerate(values))
    path = _write(tmp_path, "  pool: {path: t.csv, inputs: [a, b]}", "{kind: lookup}", csv=csv)
    out = run_inprocess("validate", path)
    value = values[line - 2]
    assert_invalid(out, path, "oracle.params.column",
                   f"t.csv, line {line}: the objective 'y': the value {float(value):g} is beyond +/-1e+150",
                   "report the objective in other units (or its logarithm)")
    assert len(out.error_lines()) == 1, out.stderr


def test_objective_values_within_the_range_are_accepted(tmp_path):
    csv = "a,b,y\n0,0,3e+140\n1,1,-1e+150\n2,0,1e-300\n"
    path = _write(tmp_path, "  pool: {path: t.csv, inputs: [a, b]}", "{kind: lookup}", csv=csv)
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output


# ----------------------------------------------------------------------------- categorical choices


NEAR_CSV = "a,s,y\n0.1,p,1\n0.5,p,2\n0.9,q,3\n"


@pytest.mark.parametrize("match", ["nearest", "exact"])
def test_a_choice_the_table_lacks_is_refused_naming_it(tmp_path, match):
    space = ("  parameters:\n    - {name: a, type: float, low: 0, high: 1}\n"
             "    - {name: s, type: categorical, choices: [p, q, r]}")
    path = _write(tmp_path, space, f"{{kind: lookup, params: {{path: t.csv, match: {match}}}}}", csv=NEAR_CSV)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].choices",
                   "'r' is not in the column 's' of t.csv (it holds p, q)",
                   "the lookup oracle could not answer an experiment with it",
                   "remove it from the choices or add rows for it to t.csv")
    # with exact, the float parameter is refused as well (each problem on its own line)
    assert len(out.error_lines()) == (1 if match == "nearest" else 2), out.stderr


def test_numeric_levels_the_table_lacks_are_refused_too(tmp_path):
    """Numbers as levels: nearest would have answered level 4 with level 2's row, silently."""
    space = ("  parameters:\n    - {name: a, type: float, low: 0, high: 1}\n"
             "    - {name: s, type: categorical, choices: [1, 2.0, '3', 4]}")
    csv = "a,s,y\n0.1,1,1\n0.5,2,2\n0.9,1.0,3\n"
    path = _write(tmp_path, space, "{kind: lookup, params: {path: t.csv, match: nearest}}", csv=csv)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[1].choices", "'3', 4 are not in the column 's' of t.csv "
                   "(it holds 1, 2)", "remove them from the choices or add rows for them")


def test_every_choice_in_the_table_is_accepted_and_each_is_found(tmp_path):
    space = ("  parameters:\n    - {name: a, type: float, low: 0, high: 1}\n"
             "    - {name: s, type: categorical, choices: [p, q]}")
    path = _write(tmp_path, space, "{kind: lookup, params: {path: t.csv, match: nearest}}", csv=NEAR_CSV)
    campaign = load_campaign(path)  # no ConfigError
    from oracles.lookup import LookupOracle

    oracle = LookupOracle(path=tmp_path / "t.csv", inputs=("a", "s"), column="y", match="nearest")
    assert oracle.evaluate({"a": 0.45, "s": "p"})["y"] == 2.0
    assert oracle.evaluate({"a": 0.45, "s": "q"})["y"] == 3.0
    assert campaign.spec.space.parameters[1].choices == ["p", "q"]


@pytest.mark.parametrize("high, said", [(4, "an experiment at 3 would find no row"),
                                         (10**6, "an experiment at 3, 5, 6, 7, 8, ... would find no row")])
def test_under_exact_an_int_value_the_table_lacks_is_refused_naming_it(tmp_path, high, said):
    """An int parameter from 1 to 4 over a table of n = 1, 2, 4: an experiment at n = 3 failed at run time
    ("no row matches"). Nearest answers it with the closest row, so it is accepted there."""
    space = (f"  parameters:\n    - {{name: n, type: int, low: 1, high: {high}}}\n"
             "    - {name: m, type: int, low: 1, high: 2}")
    csv = "n,m,y\n1,1,3\n2,1,4\n4,1,5\n1,2,3\n2,2,3\n4,2,1\n"
    path = _write(tmp_path, space, "{kind: lookup, params: {path: t.csv, match: exact}}", csv=csv)
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.parameters[0]", f"'n' takes the {high:,} whole values from 1 to {high}",
                   "the column 'n' of t.csv holds 3 of them (1, 2, 4)", said,
                   "set low and high to the table's values, use match: nearest")
    assert len(out.error_lines()) == 1, out.stderr  # 'm' (1 and 2, both held) is fine
    path.write_text(path.read_text().replace("match: exact", "match: nearest"))
    out = run_inprocess("validate", path)
    if high == 4:
        assert out.exit_code == 0, out.output
    else:  # beyond the table, nearest would answer with the row at n = 4 (fuzz round twenty)
        assert_invalid(out, path, "space.parameters[0]", "'n' ranges from 1 to 1e+06, but the column 'n' of t.csv "
                       "holds 1 to 4")


@pytest.mark.parametrize("low, high, ok", [(-100, 100, False), (0.0, 0.7, True), (-0.05, 0.75, True),
                                           (0.0, 0.9, False)])
def test_under_nearest_a_range_beyond_the_table_is_refused(tmp_path, low, high, ok):
    """Fuzz round twenty: a space of -100 to 100 over a table of 0 to 0.7 passed validate, and the run reported
    its best 'measured' at a = 85 (the edge row's value). Within half the table's step of its range it is the
    rounding nearest is for, and accepted."""
    grid = [round(0.1 * k, 1) for k in range(8)]
    csv = "a,b,y\n" + "".join(f"{a},{b},{a - b}\n" for a in grid for b in grid)
    space = (f"  parameters:\n    - {{name: a, type: float, low: {low}, high: {high}}}\n"
             "    - {name: b, type: float, low: 0, high: 0.7}")
    path = _write(tmp_path, space, "{kind: lookup, params: {path: t.csv, match: nearest}}", csv=csv)
    out = run_inprocess("validate", path)
    if ok:
        assert out.exit_code == 0, out.output
        return
    assert_invalid(out, path, "space.parameters[0]", f"'a' ranges from {low:g} to {high:g}, but the column 'a' of "
                   "t.csv holds 0 to 0.7: with match: nearest an experiment beyond the table would be answered by "
                   "the row at its edge", "set low: 0 and high: 0.7 (the table's range)")
    assert len(out.error_lines()) == 1, out.stderr


# ----------------------------------------------------------------------------- encodings: components


def test_components_beyond_what_the_levels_span_keep_what_they_span(tmp_path):
    """components: 50 on 3 levels used to be ignored (no reduction: 7 correlated descriptor columns); it
    keeps the 2 principal components the 3 levels span, as components: 2 does."""
    pytest.importorskip("rdkit", reason="RDKit is the optional looplab[chem] extra (in the dev extra)")
    features = {}
    for k in (2, 50):
        path = _write(tmp_path, "  parameters:\n    - {name: solvent, type: categorical, choices: [water, "
                                "ethanol, hexane], smiles: {water: O, ethanol: CCO, hexane: CCCCCC}, encoding: "
                                f"{{kind: descriptors, components: {k}}}}}\n"
                                "    - {name: x, type: float, low: 0, high: 1}",
                      "{kind: manual}", name=f"k{k}.yaml")
        features[k] = load_campaign(path).space.features["solvent"]
    assert features[50].shape == (3, 2)
    assert (features[50] == features[2]).all()


def test_a_pool_looked_up_in_a_table_of_its_own_needs_a_row_for_every_candidate(tmp_path):
    """Pool levels 1, 01, 1.0 and 2 against a table holding 1 and 2: validate said ok, then the run failed 4 of
    8 experiments ("no row ... matches"; fuzz round seven). Levels are matched as written."""
    (tmp_path / "pool.csv").write_text("cat,x,y\n1,0,1\n01,0,10\n1.0,0,100\n1,1,2\n01,1,20\n1.0,1,200\n2,0,5\n"
                                       "2,1,6\n")
    (tmp_path / "t.csv").write_text("cat,x,y\n1,0,1\n1,1,2\n2,0,5\n2,1,6\n")
    path = _write(tmp_path, "  pool: {path: pool.csv, inputs: [cat, x], categorical: [cat]}",
                  "{kind: lookup, params: {path: t.csv}}")
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "oracle.params.path", "t.csv has no row for 4 of the pool's 8 candidates (line 3: "
                   "cat=01, x=0.0; line 4: cat=1.0, x=0.0; line 6: cat=01, x=1.0; ... of pool.csv)",
                   "add their rows, or drop them from the pool")
    (tmp_path / "t.csv").write_text((tmp_path / "pool.csv").read_text())  # every candidate has its row
    (tmp_path / "t2.csv").write_text((tmp_path / "pool.csv").read_text())
    path.write_text(path.read_text().replace("path: t.csv", "path: t2.csv"))
    assert run_inprocess("validate", path).exit_code == 0


def test_a_table_of_its_own_whose_repeated_rows_are_averaged_is_noted(tmp_path, store_url):
    """A separate table with other conditions' rows (a T=120 row besides T=100) was averaged without a word: the
    candidate (1, 0) was answered (1 + 999) / 2 = 500 (fuzz round seven). When the pool's own file repeats, the
    pool's description says so; a table of its own now gets a note, from validate and when the run starts."""
    (tmp_path / "pool.csv").write_text("a,b\n1,0\n1,1\n2,0\n2,1\n")
    table = "a,b,y,T\n1,0,1,100\n1,1,2,100\n2,0,3,100\n2,1,4,100\n1,0,999,120\n"
    path = _write(tmp_path, "  pool: {path: pool.csv, inputs: [a, b]}", "{kind: lookup, params: {path: t.csv}}",
                  csv=table)
    said = ("oracle.params.path: t.csv has 5 rows for 4 distinct inputs: 1 input(s) have several rows (e.g. lines 2, "
            "6), and the oracle answers with their mean; if those rows are other conditions, remove them from t.csv")
    out = run_inprocess("validate", path)
    assert out.exit_code == 0 and said in " ".join(out.stderr.split()), out.output
    from orchestrator.engine import open_campaign
    from orchestrator.store import Store

    notes: list[str] = []
    open_campaign(Store(store_url), load_campaign(path), notes)
    assert any(said in n for n in notes), notes
    (tmp_path / "t.csv").write_text(table.replace("1,0,999,120\n", ""))  # one row each: nothing to say
    out = run_inprocess("validate", path)
    assert out.exit_code == 0 and out.stderr == "", out.output


# ----------------------------------------------------------------------------- budget.stop_at


@pytest.mark.parametrize("goal, stop, refused", [
    ("max", "1", True), ("max", "2.5", False), ("min", "3", True), ("min", "1.5", False),
    ("target, target_value: 2", "1", True), ("target, target_value: 2", "0.5", False),
])
def test_a_stop_at_every_row_meets_is_refused(tmp_path, goal, stop, refused):
    """Fuzz round eighteen: stop_at 5 on mixing energies of at most 0.046 (goal min) passed validate and ended the
    campaign after its initial design, exit 0."""
    path = _write(tmp_path, "  pool: {path: t.csv, inputs: [a, b]}", "{kind: lookup}", csv="a,b,y\n0,0,1\n1,1,2\n2,0,3\n")
    path.write_text(path.read_text().replace("goal: max", f"goal: {goal}")
                    .replace("budget: {max_experiments: 4}", f"budget: {{max_experiments: 4, stop_at: {stop}}}"))
    out = run_inprocess("validate", path)
    said = " ".join(out.output.split())
    assert (out.exit_code == 2 and "budget.stop_at: every row of t.csv" in said
            and "so the campaign would end at its first result" in said) == refused, said
    if not refused:
        assert out.exit_code == 0, said


def test_under_nearest_a_pool_beyond_its_own_table_is_refused(tmp_path):
    """The re-run of round twenty: a pool of -100 to 100 looked up in a table of 0 to 0.7 passed validate, and the
    run reported a best 'measured' at a = 80. A pool within the table's range (by half a step) is accepted."""
    grid = [round(0.1 * k, 1) for k in range(8)]
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{a},{b},{a - b}\n" for a in grid for b in grid))
    for spread, ok in ((1.0, True), (100.0, False)):
        (tmp_path / "pool.csv").write_text("a,b\n" + "".join(f"{0.35 + (k - 2) * spread * 0.15},0.{k}\n"
                                                             for k in range(5)))
        path = _write(tmp_path, "  pool: {path: pool.csv, inputs: [a, b]}",
                      "{kind: lookup, params: {path: t.csv, match: nearest}}")
        out = run_inprocess("validate", path)
        if ok:
            assert out.exit_code == 0, out.output
            continue
        assert_invalid(out, path, "oracle.params.path", "the pool's candidates reach 'a' from -29.65 to 30.35, but "
                       "the column 'a' of t.csv holds 0 to 0.7: with match: nearest an experiment beyond the table "
                       "would be answered by the row at its edge")
        assert len(out.error_lines()) == 1, out.stderr
