"""Pool CSVs as users really write them: typed columns, row filters, and every bad file `validate` meets.

Each bad case is the alloy example campaign pointed at a small pool CSV with one thing wrong: `looplab
validate` must exit 2 with exactly one ``error <file>: <field>: <message>`` line naming the field, the
file and (for a bad cell) the line, and print no traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from test_validate import (  # noqa: F401 (campaign_file is a fixture)
    ALLOY, POOL_CSV, assert_invalid, broken, campaign_file, run_inprocess, run_subprocess)

from orchestrator.config import SpaceSpec, load_campaign
from orchestrator.space import build_space


def _pool(tmp_path: Path, text: str | bytes, name: str = "bad.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return name


def _one_error(campaign_file, pool: str, field: str, *fragments: str, alloy: str = ALLOY) -> str:
    """Validate the alloy campaign on ``pool``: exactly one error line, naming ``field``; that line."""
    path = campaign_file(broken(alloy, "data/alloy_cuagau_emt.csv", pool))
    out = run_inprocess("validate", path)
    line = assert_invalid(out, path, field, *fragments)
    assert len(out.error_lines()) == 1, out.stderr
    return line


HEADER = POOL_CSV.splitlines()[0]
ROWS = POOL_CSV.splitlines()[1:]


def _with_row(row: str, at: int = 2) -> str:
    """POOL_CSV with data row ``at`` (0-based; file line at + 2) replaced by ``row``."""
    rows = list(ROWS)
    rows[at] = row
    return "\n".join([HEADER, *rows]) + "\n"


# ----------------------------------------------------------------------------- cells of an input


@pytest.mark.parametrize("cell,fragments", [
    ("inf", ["line 4", "'x_Ag' is inf", "finite number"]),
    ("-inf", ["line 4", "'x_Ag' is -inf"]),
    ("nan", ["line 4", "'x_Ag' is nan"]),
    ("", ["line 4", "the cell of 'x_Ag' is empty"]),
], ids=["inf", "minus-inf", "nan", "empty"])
def test_a_bad_number_in_an_input_names_column_and_line(campaign_file, tmp_path, cell, fragments):
    pool = _pool(tmp_path, _with_row(f"0.5,{cell},0.5,3.90,-0.020"))
    _one_error(campaign_file, pool, "space.pool.inputs[1]", "bad.csv", *fragments)


def test_an_input_too_wide_to_scale_names_its_extremes(campaign_file, tmp_path):
    # finite cells whose range overflows: the [0, 1] scaling made NaNs, and the run stopped later without a field
    rows = list(ROWS)
    rows[1] = "0.5,-1e308,0.5,3.90,-0.020"
    rows[3] = "0.5,1e308,0.5,3.90,-0.020"
    pool = _pool(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    _one_error(campaign_file, pool, "space.pool.inputs[1]", "'x_Ag' spans -1e+308 (line 3) to 1e+308 (line 5)",
               "too wide a range to scale")


def test_one_stray_text_cell_is_an_error_not_a_categorical_column(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row("0.5,abc,0.5,3.90,-0.020", at=4))
    _one_error(campaign_file, pool, "space.pool.inputs[1]", "'x_Ag' mixes numbers and text",
               "first text on line 6", "space.pool.categorical")


@pytest.mark.parametrize("cell, said", [("1e-400", "'1e-400' is too small for a float: it would be stored as 0"),
                                        ("1_0", "write it in plain ASCII digits, without '_'")])
def test_a_number_a_float_cannot_hold_is_not_called_text(campaign_file, tmp_path, cell, said):
    """Fuzz round eight: a cell of 1e-400 was refused as "mixes numbers and text"."""
    pool = _pool(tmp_path, _with_row(f"0.5,{cell},0.5,3.90,-0.020", at=4))
    _one_error(campaign_file, pool, "space.pool.inputs[1]", "line 6: the cell of 'x_Ag' is a number a float cannot "
               "hold as written: " + said)


def test_an_undeclared_text_column_must_be_declared(campaign_file, tmp_path):
    text = POOL_CSV.replace("x_Ag", "phase", 1)
    rows = [r.split(",") for r in text.splitlines()]
    for i, r in enumerate(rows[1:]):
        r[1] = "fcc" if i % 2 else "bcc"
    pool = _pool(tmp_path, "\n".join(",".join(r) for r in rows) + "\n")
    alloy = ALLOY.replace("[x_Cu, x_Ag, x_Au]", "[x_Cu, phase, x_Au]")
    _one_error(campaign_file, pool, "space.pool.inputs[1]", "'phase' holds text",
               "space.pool.categorical: [phase]", alloy=alloy)
    # declared, it is a categorical input with its text levels in sorted order
    declared = alloy.replace("[x_Cu, phase, x_Au]", "[x_Cu, phase, x_Au]\n    categorical: [phase]")
    path = campaign_file(broken(declared, "data/alloy_cuagau_emt.csv", pool))
    campaign = load_campaign(path)
    groups = campaign.space.column_groups()
    assert [(g.name, g.kind, g.width) for g in groups] == [
        ("x_Cu", "numeric", 1), ("phase", "categorical", 2), ("x_Au", "numeric", 1)]
    first = campaign.space.candidates[0]
    assert first["phase"] == "bcc"
    np.testing.assert_array_equal(campaign.space.X[0, 1:3], [1.0, 0.0])  # bcc before fcc


def test_an_empty_categorical_cell_names_the_line(tmp_path):
    (tmp_path / "p.csv").write_text("solvent,x,y\nwater,1,0.5\n,2,0.1\n")
    spec = SpaceSpec.model_validate({"pool": {"path": "p.csv", "inputs": ["solvent", "x"],
                                              "categorical": ["solvent"]}})
    with pytest.raises(Exception) as err:
        build_space(spec, tmp_path)
    assert "space.pool.inputs[0]: p.csv, line 3: the categorical input 'solvent' is empty" in str(err.value)


def test_declared_categorical_levels_stay_text_even_when_they_look_like_numbers(tmp_path):
    (tmp_path / "p.csv").write_text("catalyst,x,y\n10,1,0.5\n2,2,0.1\n10,3,0.2\n")
    space = build_space(SpaceSpec.model_validate({"pool": {"path": "p.csv", "inputs": ["catalyst", "x"],
                                                           "categorical": ["catalyst"]}}), tmp_path)
    assert [c["catalyst"] for c in space.candidates] == ["10", "2", "10"]
    # one-hot in sorted (text) order: "10" < "2"
    np.testing.assert_array_equal(space.X[:, 0:2], [[1, 0], [0, 1], [1, 0]])


# ----------------------------------------------------------------------------- the file itself


def test_a_field_over_128_kb(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row("0.5," + "1" * 200_000 + ",0.5,3.90,-0.020", at=1))
    line = _one_error(campaign_file, pool, "space.pool.path", "bad.csv, line 3", "longer than 128 KB")
    assert "1111" not in line


def test_an_unbalanced_quote(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row('0.5,"0.0,0.5,3.90,-0.020', at=5))
    _one_error(campaign_file, pool, "space.pool.path", "bad.csv", "quote opened near line 7", "never closed")


def test_duplicate_headers(campaign_file, tmp_path):
    pool = _pool(tmp_path, POOL_CSV.replace("lattice_constant", "x_Ag", 1))
    _one_error(campaign_file, pool, "space.pool.path", "bad.csv", "names the column 'x_Ag' twice")


def test_a_row_with_too_many_fields(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row("0.5,0.0,0.5,3.90,-0.020,7"))
    _one_error(campaign_file, pool, "space.pool.path", "bad.csv, line 4", "6 fields", "5 columns")


def test_duplicate_input_names(campaign_file):
    path = campaign_file(broken(ALLOY, "[x_Cu, x_Ag, x_Au]", "[x_Cu, x_Ag, x_Cu]"))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.inputs", "'x_Cu' is listed twice")
    assert len(out.error_lines()) == 1, out.stderr


def test_a_byte_order_mark_just_works(campaign_file, tmp_path):
    pool = _pool(tmp_path, "\ufeff".encode() + POOL_CSV.encode())
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", pool))
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.output
    campaign = load_campaign(path)
    assert campaign.space.names == ["x_Cu", "x_Ag", "x_Au"] and campaign.space.size == 8


@pytest.mark.parametrize("what", ["folder", "dev-zero", "fifo"])
def test_not_a_regular_file_is_reported_as_what_it_is(campaign_file, tmp_path, what):
    if what == "folder":
        (tmp_path / "adir").mkdir()
        target, fragment = str(tmp_path / "adir"), "is a folder"
    elif what == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero")
        target, fragment = "/dev/zero", "is a character device"
    else:
        os.mkfifo(tmp_path / "pipe")
        target, fragment = str(tmp_path / "pipe"), "is a named pipe"
    line = _one_error(campaign_file, target, "space.pool.path", fragment)
    assert "not found" not in line


def test_the_contents_of_a_file_that_is_not_a_pool_are_never_echoed(campaign_file, tmp_path):
    # a one-column first line may be any text file's first line: missing inputs are reported without it
    pool = _pool(tmp_path, "root:x:0:0:SECRET-TOKEN-abc123:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin\n")
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", pool))
    out = run_inprocess("validate", path)
    assert_invalid(out, path, "space.pool.inputs[0]", "column 'x_Cu' is not in bad.csv",
                   "its header names a single column")
    assert "SECRET" not in out.output and "/bin/bash" not in out.output
    # a first line with an over-long or unprintable "column name" is not a table at all
    pool = _pool(tmp_path, "a," + "SECRET" * 50 + "\n1,2\n")
    line = _one_error(campaign_file, pool, "space.pool.path", "bad.csv", "does not look like a CSV table")
    assert "SECRET" not in line
    binary = _pool(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00SECRET", "image.csv")
    line = _one_error(campaign_file, binary, "space.pool.path", "image.csv is not a UTF-8 text file")
    assert "SECRET" not in line and "PNG" not in line


def test_validate_in_a_subprocess_prints_one_line_and_no_traceback(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row("0.5,inf,0.5,3.90,-0.020"))
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", pool))
    out = run_subprocess("validate", path)
    assert_invalid(out, path, "space.pool.inputs[1]", "line 4", "'x_Ag' is inf")
    assert len(out.error_lines()) == 1, out.stderr


# ----------------------------------------------------------------------------- the objective column


def test_repeated_inputs_are_one_candidate_and_validate_says_so(campaign_file, tmp_path):
    """Rows with the same inputs are averaged by the lookup (replicates); validate says how many rows made
    how many candidates, so that a forgotten `where:` (other conditions averaged in) is seen."""
    pool = _pool(tmp_path, "\n".join([HEADER, *ROWS, ROWS[0], ROWS[1]]) + "\n")
    path = campaign_file(broken(ALLOY, "data/alloy_cuagau_emt.csv", pool))
    out = run_inprocess("validate", path)
    assert out.exit_code == 0, out.stderr
    assert f"pool of {len(ROWS)} candidates (from {len(ROWS) + 2} rows: rows with the same inputs are one " \
           "candidate, their objectives averaged)" in out.stdout


def test_rows_with_an_empty_objective_are_named_by_validate(campaign_file, tmp_path):
    pool = _pool(tmp_path, _with_row("0.5,0.0,0.5,3.90,", at=3))
    _one_error(campaign_file, pool, "oracle.params.column", "bad.csv, line 5",
               "the objective 'mixing_energy' is empty")


def test_an_all_text_objective(campaign_file, tmp_path):
    rows = [r.rsplit(",", 1)[0] + ",high" for r in ROWS]
    pool = _pool(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    _one_error(campaign_file, pool, "oracle.params.column", "'mixing_energy' of bad.csv holds no numbers")


def test_a_constant_objective_is_an_error_not_a_campaign_with_nothing_to_find(campaign_file, tmp_path):
    rows = [r.rsplit(",", 1)[0] + ",0.25" for r in ROWS]
    pool = _pool(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    _one_error(campaign_file, pool, "oracle.params.column",
               f"holds the same value (0.25) in all {len(ROWS)} rows", "nothing to optimise")


# ----------------------------------------------------------------------------- where: a row filter


TEMPS = """Temp_C,solvent,x,y
90,water,1,1.0
105,water,1,2.0
105,dmso,1,3.0
105,water,2,4.0
120,water,1,5.0
"""


def _filtered(tmp_path, where, **extra) -> dict:
    (tmp_path / "t.csv").write_text(TEMPS)
    return {"path": "t.csv", "inputs": ["solvent", "x"], "categorical": ["solvent"], "where": where, **extra}


def test_where_keeps_the_matching_rows_and_the_lookup_honours_it(tmp_path):
    from oracles.lookup import LookupTable

    space = build_space(SpaceSpec.model_validate({"pool": _filtered(tmp_path, {"Temp_C": 105})}), tmp_path)
    assert space.candidates == [{"solvent": "water", "x": 1.0}, {"solvent": "dmso", "x": 1.0},
                                {"solvent": "water", "x": 2.0}]
    table = LookupTable(tmp_path / "t.csv", ("solvent", "x"), "y", space.where)
    # without the filter water/x=1 would average three temperatures (1, 2, 5) into 2.67
    assert float(table.values[table.find({"solvent": "water", "x": 1.0}, nearest=False)]) == 2.0
    both = build_space(SpaceSpec.model_validate({"pool": _filtered(tmp_path, {"Temp_C": [90, 120]})}), tmp_path)
    assert both.size == 1  # water/x=1 at 90 and 120: one candidate


def _run_lookup(tmp_path, campaign: str) -> list:
    """Run the campaign (its YAML text; a lookup on t.csv) to its end; its experiments."""
    from orchestrator.engine import Engine
    from orchestrator.store import Store

    (tmp_path / "c.yaml").write_text(campaign)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with Engine(load_campaign(tmp_path / "c.yaml"), store) as engine:
        engine.run(poll_interval=0.01)
    return store.experiments(engine.id)


def test_the_engine_gives_the_lookup_oracle_the_pool_filter(tmp_path):
    (tmp_path / "t.csv").write_text(TEMPS)
    exps = _run_lookup(tmp_path, "name: where-lookup\nspace:\n  pool: {path: t.csv, inputs: [solvent, x], "
                                 "categorical: [solvent], where: {Temp_C: 105}}\nobjective: {name: y, goal: max}\n"
                                 "oracle: {kind: lookup}\ninitial: {n: 3, method: random}\n"
                                 "budget: {max_experiments: 3}\n")
    assert sorted(e.value for e in exps) == [2.0, 3.0, 4.0]  # the 105 C rows, not averages over the temperatures


def test_the_lookup_oracle_tells_categorical_levels_apart_by_their_text_as_the_pool_does(tmp_path):
    """Levels 1, 01 and 1.0 (and inf, Infinity) of a declared categorical column are five candidates of the
    pool; the lookup oracle read them as numbers, so each was answered with the mean of its numeric twins
    (found by the fuzz round of 2026-12-05: every result of the campaign was wrong, without a word)."""
    rows = {"1": 0.0, "01": 0.5, "1.0": 0.2, "inf": 0.9, "Infinity": 0.3}
    (tmp_path / "t.csv").write_text("c,y\n" + "".join(f"{c},{y}\n" for c, y in rows.items()))
    exps = _run_lookup(tmp_path, "name: levels\nspace:\n  pool: {path: t.csv, inputs: [c], categorical: [c]}\n"
                                 "objective: {name: y, goal: max}\noracle: {kind: lookup}\n"
                                 "initial: {n: 5, method: random}\nbudget: {max_experiments: 5}\n")
    assert {e.params["c"]: e.value for e in exps} == rows


@pytest.mark.parametrize("where,field,fragment", [
    ({"Temp": 105}, "space.pool.where.Temp", "column 'Temp' is not in t.csv"),
    ({"Temp_C": 100}, "space.pool.where.Temp_C", "no row of t.csv has 100; the column holds 90, 105, 120"),
    # one value of a list that matches nothing was dropped without a word (a typo: 150 for 105)
    ({"Temp_C": [90, 150]}, "space.pool.where.Temp_C", "no row of t.csv has 150; the column holds 90, 105, 120"),
    ({"solvent": ["water", "DMSO"]}, "space.pool.where.solvent", "no row of t.csv has 'DMSO'; the column holds dmso, water"),
    # each value is in the file, but no row has both
    ({"Temp_C": 90, "solvent": "dmso"}, "space.pool.where", "no row of t.csv has Temp_C = 90, solvent = dmso"),
])
def test_where_errors(tmp_path, where, field, fragment):
    from orchestrator.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        build_space(SpaceSpec.model_validate({"pool": _filtered(tmp_path, where)}), tmp_path)
    assert len(err.value.problems) == 1
    assert str(err.value.problems[0]).startswith(f"{field}: {fragment}"), err.value


@pytest.mark.parametrize("pool, words", [
    # a boolean would match the number 1 (it kept the rows where the column is 1)
    ({"where": {"T": True}}, "T: true is a boolean, which would match the number 1"),
    ({"where": {"T": None}}, "T: an empty value can never equal a cell"),
    ({"where": {"T": [[105]]}}, "T: [105] can never equal a cell"),
    ({"where": {"T": float("nan")}}, "T: nan can never equal a cell"),
    # an encoding option the kind does not read would be ignored
    ({"categorical": ["x"], "smiles": {"x": "s"}, "encoding": {"kind": "descriptors", "bits": 512}},
     "bits is not read by kind descriptors"),
    ({"categorical": ["x"], "encoding": {"kind": "one-hot", "components": 3}}, "components is not read by kind one-hot"),
], ids=["where-true", "where-empty", "where-nested", "where-nan", "descriptors-bits", "one-hot-components"])
def test_pool_settings_that_cannot_mean_anything_are_refused(pool, words):
    with pytest.raises(Exception) as err:
        SpaceSpec.model_validate({"pool": {"path": "p.csv", "inputs": ["x"], **pool}})
    assert words in str(err.value), str(err.value)


@pytest.mark.parametrize("cell, said", [("", "the categorical input 'c' is empty; fill it in"),
                                        ("nan", "the categorical input 'c' is 'nan', read as a missing value "
                                                "(rename the level); fill it in")])
def test_a_missing_categorical_level_is_named_as_what_it_is(tmp_path, cell, said):
    """A level `nan` was called "empty" (fuzz round of 2026-12-05)."""
    from orchestrator.errors import ConfigError

    (tmp_path / "t.csv").write_text(f"c,x,y\na,1,1\n{cell},2,2\n")
    with pytest.raises(ConfigError) as err:
        build_space(SpaceSpec.model_validate({"pool": {"path": "t.csv", "inputs": ["c", "x"],
                                                       "categorical": ["c"]}}), tmp_path)
    assert str(err.value.problems[0]) == f"space.pool.inputs[0]: t.csv, line 3: {said} or remove the row"


@pytest.mark.parametrize("text, fragment", [
    (",x,y\n0,1,2\n1,2,3\n", "the header leaves the first column without a name (a row index"),  # pandas' index
    ("x,,y\n1,0,2\n", "the header leaves column 2 without a name"),
    ("sep=,\nx,y\n1,2\n", "the first line 'sep=,' is Excel's separator hint, not a header; delete that line"),
    # fuzz round twelve: deleting the line as told then gave "2 fields, but the header names 1 columns"
    ("\ufeffsep=;\r\nx;y\r\n1,5;2\r\n", "the first line 'sep=;' is Excel's hint that the file is separated by "
                                          "';', not by commas; save it as comma-separated CSV"),
    ("x;y\r\n1,5;2\r\n", "its header 'x;y' looks separated by semicolons: save the file with commas as the "
                          "separator, and decimal points"),
    # fuzz round twenty: a zero-width space pasted into a name
    ("a\u200b,b,y\n0,0,1\n", "the header's column 1 ('a\\u200b') holds U+200B ZERO WIDTH SPACE, which no one "
                             "typing the name would write; remove it from the header"),
])
def test_a_spreadsheets_quirks_in_a_header_are_named_with_their_fix(tmp_path, text, fragment):
    """Fuzz round of 2026-12-05: each was "does not look like a CSV table", with no cell named and no fix."""
    from oracles.csvfile import CsvFileError, read_table

    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(CsvFileError) as err:
        read_table(tmp_path / "p.csv")
    assert str(err.value).startswith(f"p.csv: {fragment}"), err.value
