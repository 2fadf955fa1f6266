"""The command line in unfriendly surroundings (fuzz round of 2026-12-05): a store that fails mid-command, a
deleted current folder, an ASCII-only terminal, closed standard streams, a driver looplab does not use, and
an error nobody foresaw. Each is one line and an exit code, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import cli
from orchestrator.cli import app

LOOPLAB = str(Path(sys.executable).parent / "looplab")
ENV = dict(os.environ, NO_COLOR="1", COLUMNS="200")
runner = CliRunner()


@pytest.mark.parametrize("message, fragment", [
    ("database is locked", "another program holds the SQLite file's write lock"),
    ("disk I/O error", "the disk is full or failing"),
    ("attempt to write a readonly database", "cannot be written by this user"),
    ("server closed the connection unexpectedly", "the database server is unreachable"),
])
def test_a_store_failing_mid_command_is_said_plainly(message, fragment):
    from sqlalchemy.exc import OperationalError

    said = cli._store_trouble(OperationalError("UPDATE experiments ...", {}, sqlite3.OperationalError(message)))
    assert said.startswith(f"the store failed mid-command ({message}): ") and fragment in said
    assert cli._store_trouble(ValueError("no")) is None


def test_a_store_error_that_says_nothing_is_still_one_line():
    """The review found it: an empty driver message made the last guard itself raise IndexError."""
    from sqlalchemy.exc import OperationalError

    said = cli._store_trouble(OperationalError("", {}, sqlite3.OperationalError("")))
    assert said.startswith("the store failed mid-command (OperationalError): ")


def test_an_unforeseen_error_is_one_line_with_its_traceback_saved(monkeypatch, capsys):
    def broken():
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.delenv("LOOPLAB_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error unexpected RuntimeError: something nobody foresaw (") and "second line" not in err
    saved = Path(err.split("the traceback is in ")[1].split(":")[0])
    assert "Traceback" in saved.read_text() and "broken" in saved.read_text()
    saved.unlink()


def test_a_deleted_current_folder_is_named(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    campaign = Path(__file__).resolve().parents[1] / "campaigns" / "branin_gp_ei.yaml"  # its store: ./looplab.db
    proc = subprocess.Popen([sys.executable, "-c", f"import os, subprocess, sys; os.chdir({str(gone)!r}); "
                             f"os.rmdir({str(gone)!r}); r = subprocess.run([{LOOPLAB!r}, 'run', {str(campaign)!r}, '-q'], "
                             "capture_output=True, text=True); print(r.returncode); print(r.stderr)"],
                            stdout=subprocess.PIPE, text=True, env=ENV)
    out = proc.communicate(timeout=120)[0]
    assert out.startswith("2\n") and "the current folder no longer exists" in out and "Traceback" not in out, out


def test_an_ascii_terminal_neither_crashes_nor_changes_exported_data(tmp_path):
    (tmp_path / "c.yaml").write_text("name: accents\nspace:\n  parameters:\n    - {name: s, type: categorical, "
                                     "choices: [caf\u00e9, \u65e5\u672c]}\nobjective: {name: y, goal: max}\n"
                                     "oracle: {kind: manual}\ninitial: {n: 2, method: random}\n"
                                     "budget: {max_experiments: 2}\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    env = dict(ENV, PYTHONIOENCODING="ascii")
    ask = subprocess.run([LOOPLAB, "ask", str(tmp_path / "c.yaml"), "--store", url, "--csv",
                          str(tmp_path / "w.csv")], capture_output=True, env=env, timeout=120)
    assert ask.returncode == 0 and b"Traceback" not in ask.stderr, ask.stderr
    assert "caf\u00e9" in (tmp_path / "w.csv").read_text(encoding="utf-8")  # the worksheet is UTF-8
    for command in (["status", "accents"], ["export", "accents"]):
        r = subprocess.run([LOOPLAB, *command, "--store", url], capture_output=True, env=env, timeout=120)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert "caf\u00e9" in r.stdout.decode("utf-8") and "\u65e5\u672c" in r.stdout.decode("utf-8")


def test_closed_standard_streams_end_cleanly(tmp_path):
    for command in (["validate", str(tmp_path / "missing.yaml")], ["--help"]):
        r = subprocess.run(f"{LOOPLAB} {' '.join(command)} >&- 2>&-", shell=True, env=ENV, timeout=120,
                           capture_output=False)
        assert r.returncode == (2 if command[0] == "validate" else 0)


@pytest.mark.parametrize("scheme", ["postgresql+psycopg2", "postgresql+asyncpg", "postgresql+pg8000"])
def test_another_postgres_driver_is_told_to_use_the_plain_url(scheme):
    r = runner.invoke(app, ["status", "--store", f"{scheme}://u@127.0.0.1:1/db"])
    assert r.exit_code == 2 and "looplab talks to PostgreSQL through psycopg 3" in r.output, r.output
    assert f"begin the URL with postgresql:// instead of {scheme}://" in r.output


@pytest.mark.parametrize("columns", ["0", "20", "40"])
def test_a_narrow_terminal_wraps_tables_instead_of_cutting_their_cells(tmp_path, columns):
    """At COLUMNS=0 status printed nothing, at 20-40 every cell was empty or "…" (fuzz round of 2026-12-05)."""
    spec = tmp_path / "b.yaml"
    spec.write_text((Path(__file__).resolve().parents[1] / "campaigns" / "branin_gp_ei.yaml").read_text()
                    .replace("max_experiments: 30", "max_experiments: 3").replace("n: 5", "n: 3"))
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert runner.invoke(app, ["run", str(spec), "--store", url, "-q"]).exit_code == 0
    r = runner.invoke(app, ["status", "branin-gp-ei", "--store", url], env={"COLUMNS": columns})
    assert r.exit_code == 0 and "branin-gp-ei-0000-02" in r.output and "succeeded" in r.output, r.output


def test_a_store_path_that_is_a_loop_of_links_is_named(tmp_path):
    """It was a RuntimeError from Path.resolve (fuzz round of 2026-12-05); a link to a file not made yet still
    works: SQLite makes the file behind it."""
    (tmp_path / "loop1.db").symlink_to(tmp_path / "loop2.db")
    (tmp_path / "loop2.db").symlink_to(tmp_path / "loop1.db")
    spec = Path(__file__).resolve().parents[1] / "campaigns" / "branin_gp_ei.yaml"
    r = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{tmp_path / 'loop1.db'}", "-q"])
    assert r.exit_code == 2 and "is a loop of symbolic links; give the database file itself" in r.output, r.output
    (tmp_path / "link.db").symlink_to(tmp_path / "later.db")
    r = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{tmp_path / 'link.db'}", "-q", "--max-steps", "1"])
    assert r.exit_code == 0 and (tmp_path / "later.db").is_file(), r.output


def test_a_daemon_folder_that_is_a_loop_of_links_is_named(tmp_path):
    """The review of round ten: the daemon's folder was still read with Path.resolve, which raises RuntimeError
    on a loop of links (the command's last guard caught it as an unexpected error, exit 1)."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    r = runner.invoke(app, ["daemon", str(tmp_path / "a"), "--exit-when-done"])
    assert r.exit_code == 2 and f"DIR: '{tmp_path / 'a'}' is not a folder" in " ".join(r.output.split()), r.output


def test_a_daemon_lock_file_that_is_a_folder_is_named_and_no_store_is_left(tmp_path):
    """Fuzz round thirteen: DIR/.looplab-daemon.lock as a folder was an unexpected IsADirectoryError (exit 1),
    and the store the daemon had created stayed behind, empty."""
    (tmp_path / "d" / ".looplab-daemon.lock").mkdir(parents=True)
    r = runner.invoke(app, ["daemon", str(tmp_path / "d"), "--exit-when-done", "--store",
                            f"sqlite:///{tmp_path / 's.db'}"])
    assert r.exit_code == 2 and "DIR: the daemon's lock file " in r.output and ".looplab-daemon.lock is a folder; " \
        "move it away" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "s.db").exists()


def test_a_daemon_folder_that_cannot_be_read_is_refused_before_anything_starts(tmp_path, monkeypatch):
    """The review of round seventeen: with DIR taken as text (to refuse ''), an unreadable folder was no longer
    refused by the argument's type; it ended in an unexpected PermissionError at the lock file (exit 1), or in
    'cannot be read any more'. os.access is made to say no (the tests run as root, who reads everything)."""
    import os as os_module

    folder = tmp_path / "d"
    folder.mkdir()
    real = os_module.access
    monkeypatch.setattr(os_module, "access", lambda p, mode, **kw: False if str(p) == str(folder) else real(p, mode, **kw))
    r = runner.invoke(app, ["daemon", str(folder), "--exit-when-done", "--store", f"sqlite:///{tmp_path / 's.db'}"])
    said = " ".join(r.output.split())
    assert r.exit_code == 2 and f"DIR: '{folder}' cannot be read (permission denied); make it readable" in said, said
    assert not (tmp_path / "s.db").exists()


def test_a_daemon_lock_file_that_is_a_link_is_refused_and_its_target_kept(tmp_path):
    """Fuzz round seventeen: DIR/.looplab-daemon.lock as a link to the user's notes replaced the notes with the
    daemon's pid, exit 0."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".looplab-daemon.lock").symlink_to(notes)
    r = runner.invoke(app, ["daemon", str(tmp_path / "d"), "--exit-when-done", "--store",
                            f"sqlite:///{tmp_path / 's.db'}"])
    said = " ".join(r.output.split())
    assert r.exit_code == 2 and ".looplab-daemon.lock is a link (the daemon writes its pid into its lock file, so " \
        "it never follows one); move it away" in said, said
    assert notes.read_text() == "my notes\n" and not (tmp_path / "s.db").exists()


def test_an_output_file_that_is_a_hard_link_is_refused_and_its_other_name_kept(tmp_path):
    """Fuzz round nineteen: --log-file hard-linked to the campaign file (or the pool) appended log lines to it,
    and the campaign file was broken; export --out refused such a link only by what it holds."""
    campaign = tmp_path / "a.yaml"
    campaign.write_text((Path(__file__).resolve().parents[1] / "campaigns" / "branin_gp_ei.yaml").read_text())
    os.link(campaign, tmp_path / "run.log")
    before = campaign.read_text()
    r = runner.invoke(app, ["run", str(campaign), "--max-steps", "1", "--store", f"sqlite:///{tmp_path / 's.db'}",
                            "--log-file", str(tmp_path / "run.log")])
    said = " ".join(r.output.split())
    assert r.exit_code == 2 and "--log-file: " in said and "is a hard link (the same file has 2 names)" in said, said
    assert campaign.read_text() == before and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("special", ["fifo", "/dev/null"])
def test_a_store_that_is_a_pipe_or_a_device_is_named(tmp_path, special):
    """Fuzz round thirteen: --store naming a FIFO said only 'disk I/O error', and /dev/null read as a store with
    no campaigns (exit 0)."""
    path = tmp_path / "f.db"
    if special == "fifo":
        os.mkfifo(path)
    else:
        path = Path(special)
    for command in (["status"], ["run", str(Path(__file__).resolve().parents[1] / "campaigns" / "branin_gp_ei.yaml")]):
        r = runner.invoke(app, [*command, "--store", f"sqlite:///{path}"])
        assert r.exit_code == 2 and "is a named pipe or a device, not a database file" in r.output, r.output


@pytest.mark.parametrize("command", ["status", "run"])
def test_a_question_mark_in_a_sqlite_file_name_is_not_taken_for_a_query(tmp_path, monkeypatch, command):
    """Fuzz round thirteen: --store 'sqlite:///q?.db' ran the campaign into a new store file named 'q' (the '?'
    starts the URL's query, here empty), exit 0, no word."""
    monkeypatch.chdir(tmp_path)
    args = [command] if command == "status" else ["run", str(Path(__file__).resolve().parents[1] / "campaigns" /
                                                              "branin_gp_ei.yaml")]
    r = runner.invoke(app, [*args, "--store", "sqlite:///q?.db"])
    assert r.exit_code == 2 and "the '?' starts the URL's query, so the file would be 'q'; write a '?' of the file " \
        "name as %3F" in " ".join(r.output.split()), r.output
    assert list(tmp_path.iterdir()) == []


def test_a_thread_a_plugin_leaves_running_does_not_hold_the_command(tmp_path):
    """Fuzz round ten: a plugin that started a thread without daemon=True kept `looplab run` from returning
    after the campaign was done (Python waits at exit for such threads). The command now waits a few seconds,
    says which thread it leaves, and exits with its own code; the campaign's results are stored."""
    spec = tmp_path / "c.yaml"
    spec.write_text("name: threads\nseed: 0\nspace:\n  parameters:\n    - {name: x1, type: float, low: 0, high: 1}\n"
                    "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:LeavesThread'}\n"
                    "executor: {kind: inline}\nmodel: {kind: random-forest}\ninitial: {n: 2}\n"
                    "budget: {max_experiments: 3}\n")
    env = dict(ENV, PYTHONPATH=str(Path(__file__).parent))
    r = subprocess.run([LOOPLAB, "run", str(spec), "--store", f"sqlite:///{tmp_path / 's.db'}", "-q"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "note a plugin left 1 thread(s) running ('instrument-watcher'), not started with daemon=True; " \
        "looplab does not wait for them and exits" in r.stderr, r.stderr
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("select count(*) from experiments where status = 'succeeded'").fetchone() == (3,)


def _endless_daemon_campaign(tmp_path, name: str):
    """A daemon folder d/ with one campaign that never ends (an asynchronous oracle, a huge budget), and the path
    of its SQLite store: (folder, db)."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "c.yaml").write_text(
        f"name: {name}\nspace:\n  parameters:\n    - {{name: x1, type: float, low: 0, high: 1}}\n"
        "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:Async'}\nmodel: {kind: random-forest}\n"
        "initial: {n: 2}\nbudget: {max_experiments: 100000}\n")
    return folder, tmp_path / "s.db"


def test_a_daemon_whose_folder_is_moved_away_says_so_and_exits_1(tmp_path):
    """Fuzz round seventeen: the watched folder moved away mid-run paused its campaign as a removed file, then
    said 'no campaign file ... is it the right folder?' and --exit-when-done exited 0."""
    import threading
    import time

    folder, db = _endless_daemon_campaign(tmp_path, "moved")

    def move_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("select count(*) from experiments").fetchone()[0] >= 2:
                        break
            except sqlite3.Error:  # not created yet
                pass
            time.sleep(0.1)
        folder.rename(tmp_path / "elsewhere")

    threading.Thread(target=move_when_running, daemon=True).start()
    r = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{db}", "--interval", "0.05", "--rescan",
                            "0.2", "--exit-when-done"])
    said = " ".join(r.output.split())
    assert r.exit_code == 1, r.output
    assert f"the daemon's folder {folder} could not be read when it stopped (No such file or directory)" in said, said
    assert "is it the right folder?" not in said


def test_a_store_file_removed_under_a_daemon_stops_it_and_says_so(tmp_path):
    """Fuzz round thirteen: the SQLite store deleted while a daemon drove a campaign: it ran on into the
    unlinked file and, stopped, said 'every result so far is in the store', though none was. The next scan
    now stops the daemon, exit 1, saying what was lost."""
    import threading
    import time

    folder, db = _endless_daemon_campaign(tmp_path, "gone")

    def remove_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (db.exists() and db.stat().st_size > 0):
            time.sleep(0.1)
        time.sleep(1.0)
        for path in tmp_path.glob("s.db*"):
            path.unlink()

    threading.Thread(target=remove_when_running, daemon=True).start()
    r = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{db}", "--interval", "0.05", "--rescan",
                            "0.2"])
    assert r.exit_code == 1, r.output
    assert f"the store's file {db} was removed while the daemon ran" in " ".join(r.output.split()), r.output
    assert "every result so far is in the store" not in r.output
