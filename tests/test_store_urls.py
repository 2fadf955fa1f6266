"""--store URLs the fuzz round of 2026-12-06 got through: a password with an unencoded '@' (its tail printed), a
connect_timeout of 0, -5 or 1e3 (a hang on a server that never answers), a SQLite path ending in a space (a file
'name.db ' made), and a SQLite path too long for the system or for SQLite (the wrong limit named, and not as
--store). Each is one `error --store: ...` line, exit 2, and nothing is made. No PostgreSQL server is needed:
each is refused before connecting, or fails at connecting (port 1 refuses, a listener that never answers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import CAMPAIGNS
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.store import _mask, display_url

DEMO = CAMPAIGNS / "branin_gp_ei.yaml"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def store_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error --store: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


# -- F6: a password holding an unencoded '@'

SECRET_URL = "postgresql://admin:hunter2@MySecretTail99@127.0.0.1:1/db"


@pytest.mark.parametrize("command", [["status"], ["run", str(DEMO), "-q"]])
def test_a_password_with_an_unencoded_at_is_refused_and_shown_masked_whole(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    line = store_error(invoke(*command, "--store", SECRET_URL))
    assert "hunter2" not in line and "MySecretTail99" not in line, line
    assert "'postgresql+psycopg://admin:***@127.0.0.1:1/db'" in line and "%40" in line, line
    assert list(tmp_path.iterdir()) == []


def test_the_user_info_is_masked_through_the_last_at_in_urls_and_driver_messages():
    assert display_url(SECRET_URL) == "postgresql://admin:***@127.0.0.1:1/db"
    assert display_url("postgresql://user@srv:p@w@h/db") == "postgresql://user@srv:***@h/db"
    said = "failed to resolve host 'MySecretTail99@127.0.0.1': [Errno -2] Name or service not known"
    assert _mask(said, SECRET_URL) == "failed to resolve host '***@127.0.0.1': [Errno -2] Name or service not known"
    assert _mask(f"cannot open '{SECRET_URL}'", SECRET_URL) == "cannot open 'postgresql://admin:***@127.0.0.1:1/db'"


def test_an_at_in_the_user_name_is_read_as_meant_and_not_refused():
    """'user@server' is how some hosted servers name a user: the URL reaches the server (port 1 refuses)."""
    line = store_error(invoke("status", "--store", "postgresql://user@srv:pw@127.0.0.1:1/db"))
    assert "cannot open" in line and "Connection refused" in line and "pw" not in line.split("'")[1], line


# -- F7: connect_timeout that would wait forever

@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        yield srv.getsockname()[1]


@pytest.mark.parametrize("value", ["0", "-5", "1e3", "301", "abc", "5&connect_timeout=0"])
def test_a_connect_timeout_that_is_not_whole_seconds_from_1_to_300_is_refused_before_connecting(tmp_path,
                                                                                                 silent_port, value):
    url = f"postgresql://u@127.0.0.1:{silent_port}/db?connect_timeout={value}"
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "status", "--store", url], capture_output=True,
                          text=True, cwd=tmp_path, timeout=20)  # it hung for good
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error --store: "), proc.stderr
    assert "connect_timeout" in lines[0] and "connect_timeout=10" in lines[0], lines


def test_a_connect_timeout_in_range_is_kept(tmp_path, silent_port):
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "status", "--store",
                           f"postgresql://u@127.0.0.1:{silent_port}/db?connect_timeout=2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=20)
    assert proc.returncode == 2 and "timeout expired" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 9  # its own 2 s, not the default 10 s


# -- F11: whitespace and control characters around or in a SQLite path

@pytest.mark.parametrize("path, shown, where", [
    ("s3.db ", "'s3.db '", "ends with whitespace"),
    ("s4.db\t", "'s4.db\\t'", "ends with whitespace"),
    ("s5.db%20", "'s5.db '", "ends with whitespace"),
    (" s6.db", "' s6.db'", "begins with whitespace"),
    ("a\nb.db", "'a\\nb.db'", "holds a control character"),
])
def test_a_sqlite_path_with_whitespace_around_it_or_a_control_character_is_refused(tmp_path, monkeypatch,
                                                                                   path, shown, where):
    monkeypatch.chdir(tmp_path)
    for command in (["run", str(DEMO), "-q"], ["status"]):
        line = store_error(invoke(*command, "--store", f"sqlite:///{path}"))
        assert f"the SQLite path {shown}" in line and where in line, line
    assert list(tmp_path.iterdir()) == []


# -- F16: a SQLite path over the system's or SQLite's limit

def test_a_sqlite_path_over_the_systems_limit_names_it_as_store(tmp_path):
    """25 names of 200 bytes: each name is fine, the whole path is not (it said 'each name is at most 255')."""
    long = "/".join(["d" * 200] * 25)
    line = store_error(invoke("status", "--store", f"sqlite:///{tmp_path}/{long}/s.db"))
    assert "bytes long: a whole path is at most 4095 bytes" in line and "255 bytes" not in line, line


@pytest.mark.skipif(os.name != "posix", reason="SQLite's unix file system layer")
def test_a_sqlite_path_over_sqlites_limit_is_refused_before_its_folders_are_made(tmp_path):
    """SQLite opens no database at a path over 512 bytes: run made the folders, then said 'unable to open
    database file; check that the folder exists'."""
    long = "/".join(["d" * 200] * 3)
    line = store_error(invoke("run", str(DEMO), "-q", "--store", f"sqlite:///{tmp_path}/{long}/s.db"))
    assert "SQLite opens a database only at a path of at most 504 bytes" in line, line
    assert list(tmp_path.iterdir()) == []
