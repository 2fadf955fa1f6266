"""A store is looplab's alone: another program's database, a store of a newer looplab, a damaged row and a
database in memory are refused in one line naming --store, and nothing is written to what was refused."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
from pathlib import Path

import pytest
from conftest import CAMPAIGNS
from typer.testing import CliRunner

from oracles.robot.config import RobotConfigError
from oracles.robot.server import serve
from orchestrator.cli import app
from orchestrator.store import Store

DEMO = CAMPAIGNS / "branin_gp_ei.yaml"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def finished_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'done.db'}"
    result = invoke("run", str(DEMO), "--store", url, "-q", "--max-steps", "1")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "done.db") as conn:  # the write-ahead log into the file: bytes compare
        conn.execute("pragma wal_checkpoint(truncate)")
    return url


@pytest.mark.parametrize("tables, fragment", [
    (["create table orders (id integer primary key, total real)"], "another program's database (tables orders)"),
    (["create table campaigns (id integer primary key, title text)"], "its table 'campaigns' lacks looplab's columns"),
    (["create table meta (key text primary key, value text)", "create table jobs (seq integer primary key)"],
     "the mock robot's database (tables jobs, meta)"),
])
def test_another_programs_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path, tables, fragment):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        for sql in tables:
            conn.execute(sql)
    before = digest(db)
    for args in (["run", str(DEMO), "-q", "--max-steps", "1"], ["status"], ["export", "branin-gp-ei"]):
        line = one_error(invoke(*args, "--store", f"sqlite:///{db}"))
        assert "--store:" in line and "is not a looplab store" in line and fragment in line, line
        assert "nothing was written" in line
    assert digest(db) == before  # not even SQLite's journal mode changed
    assert not (tmp_path / "app.db-wal").exists()


def test_a_store_of_a_newer_looplab_is_refused_by_readers_and_writers(tmp_path):
    url = finished_store(tmp_path)
    db = Path(url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        conn.execute("update campaigns set schema_version = 99")
    before = digest(db)
    for args in (["status"], ["extend", "branin-gp-ei", "--budget", "100"], ["run", str(DEMO), "-q"]):
        line = one_error(invoke(*args, "--store", url))
        assert "written by a newer looplab (store schema 99; this looplab reads up to 1)" in line, line
    assert digest(db) == before


@pytest.mark.parametrize("sql, fragment", [
    ("update campaigns set spec = '{not json'", "its spec is not JSON"),
    ("update campaigns set spec = '[1, 2]'", "its spec is a list, not a mapping"),
    ("update campaigns set spec = '{\"name\": 5}'", "its spec has no objective.goal"),
])
def test_a_damaged_campaign_row_is_named_instead_of_a_traceback(tmp_path, sql, fragment):
    url = finished_store(tmp_path)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute(sql)
    for args in (["status"], ["status", "branin-gp-ei"], ["export", "branin-gp-ei"], ["report", "branin-gp-ei"]):
        line = one_error(invoke(*args, "--store", url))
        assert "the stored campaign 'branin-gp-ei' (row 1 of the table campaigns) is damaged" in line, line
        assert fragment in line


def test_a_damaged_experiment_row_is_named(tmp_path):
    url = finished_store(tmp_path)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("update experiments set params = '{x1: 3' where seq = 1")
    line = one_error(invoke("export", "branin-gp-ei", "--store", url))
    assert "experiment 'branin-gp-ei-0000-01' (table experiments) is damaged: its params is not JSON" in line


@pytest.mark.parametrize("url, fragment", [
    ("sqlite://", "is a database in memory"),
    ("sqlite:///:memory:", "is a database in memory"),
    ("sqlite://runs.db", "has two slashes; a SQLite file needs three (relative path: sqlite:///runs.db)"),
])
def test_a_store_url_that_keeps_nothing_is_refused(tmp_path, monkeypatch, url, fragment):
    monkeypatch.chdir(tmp_path)
    for args in (["run", str(DEMO), "-q"], ["status"], ["pause", "x"]):
        assert fragment in one_error(invoke(*args, "--store", url))
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_may_still_use_a_store_in_memory():
    store = Store("sqlite://")
    assert store.create_campaign("scratch", {"objective": {"goal": "min"}}, "").name == "scratch"


def test_a_refused_daemon_leaves_no_database_behind(tmp_path):
    db = tmp_path / "d.db"
    for args in (["daemon", str(tmp_path / "nowhere")], ["daemon", str(tmp_path), "--plugins", "sometimes"]):
        one_error(invoke(*args, "--store", f"sqlite:///{db}", "--exit-when-done"))
        assert not db.exists()


def test_the_mock_robot_refuses_a_looplab_store_and_a_busy_port_before_writing(tmp_path):
    url = finished_store(tmp_path)
    db = Path(url.removeprefix("sqlite:///"))
    before = digest(db)
    with pytest.raises(RobotConfigError, match=r"--db: '.*done\.db' is a looplab store \(it has the tables "
                                               r"campaign_control, campaigns"):
        serve(port=0, db=db)
    assert digest(db) == before

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    fresh = tmp_path / "robot.db"
    try:
        with pytest.raises(RobotConfigError, match="--port: cannot listen"):
            serve(port=busy.getsockname()[1], db=fresh)
    finally:
        busy.close()
    assert not fresh.exists()



# ----------------------------------------------------------------------------- the pool a campaign reads


def pool_campaign(tmp_path: Path) -> tuple[Path, Path, str]:
    from conftest import ALLOY_POOL, alloy_yaml

    pool = tmp_path / "pool.csv"
    pool.write_bytes(ALLOY_POOL.read_bytes())
    spec = tmp_path / "alloy.yaml"
    spec.write_text(alloy_yaml(name="alloy", budget=12, model="random-forest").replace(str(ALLOY_POOL), "pool.csv"))
    return spec, pool, f"sqlite:///{tmp_path / 'a.db'}"


@pytest.mark.parametrize("change", ["values", "shorter"])
def test_a_pool_changed_after_the_start_is_refused_and_the_original_resumes(tmp_path, change):
    spec, pool, url = pool_campaign(tmp_path)
    assert invoke("run", str(spec), "--store", url, "-q", "--max-steps", "2").exit_code == 0
    original = pool.read_text()
    lines = original.splitlines()
    if change == "values":  # every objective value negated: the old results would be mixed with new ones
        lines = [lines[0]] + [",".join(r.split(",")[:-1] + [str(-float(r.split(",")[-1]))]) for r in lines[1:]]
    else:
        lines = lines[: len(lines) // 2]
    pool.write_text("\n".join(lines) + "\n")
    db = tmp_path / "a.db"
    before = Store(url).experiments(1)
    line = one_error(invoke("run", str(spec), "--store", url, "-q"))
    assert "space.pool.path: the file" in line and "pool.csv changed since the campaign started" in line, line
    assert Store(url).experiments(1) == before and db.exists()
    pool.write_text(original)
    result = invoke("run", str(spec), "--store", url, "-q")
    assert result.exit_code == 0 and len(Store(url).experiments(1)) == 12, result.output


def test_a_campaign_started_before_pools_were_fingerprinted_records_its_pool_on_resume(tmp_path):
    spec, pool, url = pool_campaign(tmp_path)
    assert invoke("run", str(spec), "--store", url, "-q", "--max-steps", "1").exit_code == 0
    with sqlite3.connect(tmp_path / "a.db") as conn:  # as written before the column existed
        conn.execute("alter table campaigns drop column files")
    assert Store(url, create=False).campaign_files(1) is None  # read-only: neither needed nor added
    assert invoke("run", str(spec), "--store", url, "-q", "--max-steps", "1").exit_code == 0
    files = Store(url).campaign_files(1)
    assert set(files) == {"space.pool.path"} and files["space.pool.path"]["path"] == str(pool.resolve())
    pool.write_text(pool.read_text().replace("\n", "\r\n"))  # the same values, saved by another program
    assert "changed since the campaign started" in one_error(invoke("run", str(spec), "--store", url, "-q"))


def test_a_store_url_option_the_driver_would_ignore_is_refused(tmp_path):
    url = finished_store(tmp_path)
    line = one_error(invoke("status", "--store", url + "?foo=bar"))
    assert "Query string argument(s) 'foo' are not accepted" in line and line.endswith("remove it from the URL")


def test_a_refused_command_leaves_an_older_store_byte_for_byte_and_a_write_upgrades_it(tmp_path):
    """Columns a later version added are added by the first write that needs them, not when the store is
    opened: the fuzz round found every refused `edit`, `approve` or `pause` against an older store changing
    its bytes (the upgrade ran first)."""
    url = finished_store(tmp_path)
    db = tmp_path / "done.db"
    with sqlite3.connect(db) as conn:  # as written before these columns existed
        conn.execute("alter table campaigns drop column files")
        conn.execute("alter table campaign_control drop column failures_from")
        conn.execute("vacuum")
    before = digest(db)
    for args in (["pause", "nosuch"], ["extend", "branin-gp-ei", "--budget", "1"], ["edit", "branin-gp-ei", "x",
                                                                                  "x1=1"], ["status"]):
        result = invoke(*args, "--store", url)
        assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
    assert digest(db) == before
    assert invoke("pause", "branin-gp-ei", "--store", url).exit_code == 0  # a write: the column is added
    with sqlite3.connect(db) as conn:
        assert "failures_from" in [r[1] for r in conn.execute("pragma table_info(campaign_control)")]


def test_a_postgresql_urls_own_options_are_kept(pg_url):
    """Fuzz round thirteen: ?options=-c search_path=lab was replaced by looplab's own connection options, so the
    tables went to the public schema (and -c default_transaction_read_only=on was dropped)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA lab")
    store = Store(f"{pg_url}?options=-c%20search_path%3Dlab")
    store.list_campaigns()  # the tables are made
    store.close()
    with psycopg.connect(pg_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT table_schema FROM information_schema.tables "
                                              "WHERE table_name = 'campaigns'")}
    assert schemas == {"lab"}
