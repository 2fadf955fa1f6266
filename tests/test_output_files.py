"""What `export --out`, `ask --csv` and `report --out` may write over: nothing the campaign reads, no part of the
store, and no file another program wrote (found by the fuzz round of 2026-12-05: each of these wrote over a
campaign's pool, the store's WAL file, or, through a link named report.html, the store itself)."""

from __future__ import annotations

import csv
import io
import os

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()

POOL = "id,x,y\n1,0.1,3\n2,0.5,4\n3,0.9,5\n4,0.3,1\n"  # its header starts like ask's worksheet
CAMPAIGN = """
name: {name}
space:
  pool: {{path: pool.csv, inputs: [x]}}
objective: {{name: y, goal: max}}
oracle: {{kind: {oracle}}}
initial: {{n: 2, method: random}}
budget: {{max_experiments: 3}}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "pool.csv").write_text(POOL)
    (tmp_path / "hand.yaml").write_text(CAMPAIGN.format(name="hand", oracle="manual"))
    (tmp_path / "look.yaml").write_text(CAMPAIGN.format(name="look", oracle="lookup"))
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = runner.invoke(app, ["run", str(tmp_path / "look.yaml"), "--store", url, "-q"])
    assert r.exit_code == 0, r.output
    return tmp_path, url


def _refused(r, option: str, fragment: str) -> None:
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"error {option}: " in r.output and fragment in r.output, r.output


def test_ask_csv_never_writes_over_the_campaigns_pool(folder):
    tmp, url = folder
    r = runner.invoke(app, ["ask", str(tmp / "hand.yaml"), "--store", url, "--csv", str(tmp / "pool.csv")])
    _refused(r, "--csv", "is the campaign's space.pool.path file")
    assert (tmp / "pool.csv").read_text() == POOL
    r = runner.invoke(app, ["ask", "hand", "--store", url, "--csv", str(tmp / "ws.csv")])  # a worksheet: written,
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["ask", "hand", "--store", url, "--csv", str(tmp / "ws.csv")])  # and written again
    assert r.exit_code == 0 and next(csv.reader(io.StringIO((tmp / "ws.csv").read_text()))) == ["id", "x", "y"]


def test_ask_csv_never_writes_over_the_campaigns_initial_data(folder):
    """Round ten's review: initial.data (read once, not fingerprinted) was kept only by the sniff of its first
    line, so a file starting 'id,' like a worksheet would have been replaced."""
    tmp, url = folder
    earlier = "id,x,y\n1,0.1,3\n"
    (tmp / "earlier.csv").write_text(earlier)
    (tmp / "data.yaml").write_text(CAMPAIGN.format(name="data", oracle="manual").replace(
        "initial: {n: 2, method: random}", "initial: {n: 2, method: random, data: earlier.csv}"))
    r = runner.invoke(app, ["ask", str(tmp / "data.yaml"), "--store", url, "--csv", str(tmp / "earlier.csv")])
    _refused(r, "--csv", "is the campaign's initial.data file")
    assert (tmp / "earlier.csv").read_text() == earlier


@pytest.mark.parametrize("content", ["a,b\n1,2\n", "notes of Tuesday\n"])
def test_outputs_never_replace_a_file_another_program_wrote(folder, content):
    tmp, url = folder
    theirs = tmp / "theirs.csv"
    theirs.write_text(content)
    _refused(runner.invoke(app, ["export", "look", "--store", url, "--out", str(theirs)]), "--out",
             "exists and was not written by this command")
    _refused(runner.invoke(app, ["ask", "hand", "--store", url, "--csv", str(theirs)]), "--csv",
             "exists and was not written by this command")
    assert theirs.read_text() == content
    out = tmp / "e.csv"  # an earlier export is replaced
    for _ in range(2):
        r = runner.invoke(app, ["export", "look", "--store", url, "--out", str(out)])
        assert r.exit_code == 0 and out.read_text().startswith("seq,id,"), r.output


@pytest.mark.parametrize("end", ["-wal", "-shm", "-journal"])
def test_outputs_never_write_the_stores_own_files(folder, end):
    tmp, url = folder
    side = tmp / f"s.db{end}"
    _refused(runner.invoke(app, ["export", "look", "--store", url, "--out", str(side)]), "--out",
             f"belongs to the SQLite database 's.db' (its {end[1:]} file)")
    _refused(runner.invoke(app, ["ask", "hand", "--store", url, "--csv", str(side)]), "--csv", "belongs to the SQLite")
    # SQLite itself may remove or rewrite its side file when a command closes the store: what matters is
    # that neither command wrote its CSV into it
    assert not side.exists() or not side.read_bytes().startswith((b"seq,", b"id,"))
    r = runner.invoke(app, ["status", "look", "--store", url])
    assert r.exit_code == 0 and "3" in r.output, r.output


def test_report_removes_links_and_pipes_by_its_file_names_instead_of_writing_through_them(folder):
    tmp, url = folder
    out = tmp / "rep"
    out.mkdir()
    store = tmp / "s.db"
    before = store.read_bytes()
    (out / "report.html").symlink_to(store)
    os.mkfifo(out / "best_so_far.png")  # writing would wait for a reader forever
    r = runner.invoke(app, ["report", "look", "--store", url, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert store.read_bytes()[:16] == before[:16] == b"SQLite format 3\x00"
    assert not (out / "report.html").is_symlink() and (out / "report.html").read_text().startswith("<!doctype html>")
    assert (out / "best_so_far.png").is_file()
    (out / "timeline.png").unlink()
    (out / "timeline.png").mkdir()  # a folder by a report file's name is the user's: refused
    _refused(runner.invoke(app, ["report", "look", "--store", url, "--out", str(out)]), "--out",
             "timeline.png' is a folder")


def test_export_names_every_column_once(tmp_path):
    """Inputs 'step' (a bookkeeping column's name, so written param_step) and 'param_step' made two columns
    called param_step."""
    (tmp_path / "p.csv").write_text("step,param_step,y\n1,2,3\n2,3,4\n3,1,5\n")
    (tmp_path / "c.yaml").write_text("name: cols\nspace:\n  pool: {path: p.csv, inputs: [step, param_step]}\n"
                                     "objective: {name: y, goal: max}\noracle: {kind: lookup}\n"
                                     "initial: {n: 3, method: random}\nbudget: {max_experiments: 3}\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert runner.invoke(app, ["run", str(tmp_path / "c.yaml"), "--store", url, "-q"]).exit_code == 0
    r = runner.invoke(app, ["export", "cols", "--store", url])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    header = r.stdout.splitlines()[0].split(",")
    assert len(header) == len(set(header)), header
    assert {(float(x["param_param_step"]), float(x["param_step"])) for x in rows} == {(1, 2), (2, 3), (3, 1)}
