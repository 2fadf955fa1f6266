"""The command line as a user meets it: run, status, export, plugins, and fast start-up."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import CAMPAIGNS, ROOT, alloy_yaml, edit_stored_spec, write_campaign
from orchestrator.cli import app
from orchestrator.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One small finished pool campaign, shared by the read-only tests below."""
    tmp = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{tmp / 'cli.db'}"
    spec = write_campaign(tmp, alloy_yaml(name="cli-alloy", budget=10))
    result = runner.invoke(app, ["run", str(spec), "--store", url])
    return result, url, spec


def test_run_prints_steps_and_a_summary_with_rank(finished):
    result, _, _ = finished
    assert result.exit_code == 0, result.output
    out = result.output
    assert "starting campaign 'cli-alloy'" in out
    assert "step   0 initial" in out and "step   5 model" in out
    assert "completed (budget reached)" in out
    assert "best mixing_energy" in out and "rank in pool" in out and "of 561" in out
    assert "found at" in out


def test_status_lists_the_campaign(finished):
    _, url, _ = finished
    result = runner.invoke(app, ["status", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cli-alloy" in result.output and "completed" in result.output and "10/10" in result.output
    detail = runner.invoke(app, ["status", "cli-alloy", "--store", url], env={"COLUMNS": "200"})
    assert detail.exit_code == 0 and "cli-alloy-0005-00" in detail.output


def test_status_shows_who_runs_each_campaign(finished):
    """The "run by" column reads the lease: a live holder with its pid and host, a dead one as lapsed, and
    nobody once the run let go (the finished run released its lease)."""
    _, url, _ = finished
    store = Store(url)
    row = store.get_campaign("cli-alloy")
    host = socket.gethostname()

    def run_by() -> str:
        result = runner.invoke(app, ["status", "--store", url], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        return result.output

    assert store.lease(row.id) is None and "pid " not in run_by()
    store.acquire_lease(row.id, host=host, pid=os.getpid())
    try:
        out = run_by()
        assert re.search(rf"pid {os.getpid()} on {re.escape(host)}, seen \d s ago", out) and "lapsed" not in out
    finally:
        store.release_lease(row.id, host=host, pid=os.getpid())
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    store.acquire_lease(row.id, host=host, pid=dead)
    try:
        lease = store.lease(row.id)
        assert lease["pid"] == dead and lease["lapsed"] is True
        assert re.search(rf"nobody: pid {dead} on {re.escape(host)} last seen \d s ago has lapsed", run_by())
    finally:
        store.release_lease(row.id, host=host, pid=dead)


def test_status_of_an_unknown_campaign_suggests_close_names(finished):
    _, url, _ = finished
    result = runner.invoke(app, ["status", "cli-aloy", "--store", url])
    assert result.exit_code == 2
    assert "no campaign named 'cli-aloy'" in result.output and "cli-alloy" in result.output


def test_export_csv_has_every_experiment_in_order(finished):
    _, url, _ = finished
    result = runner.invoke(app, ["export", "cli-alloy", "--format", "csv", "--store", url])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 10
    assert [int(r["seq"]) for r in rows] == list(range(10))
    for r in rows:
        assert r["status"] == "succeeded"
        assert float(r["x_Cu"]) + float(r["x_Ag"]) + float(r["x_Au"]) == pytest.approx(1.0, abs=1e-6)
        assert float(r["mixing_energy"]) < 0.05  # the objective, under its own name
        assert r["created_at"].endswith("Z") and r["finished_at"]


def test_export_json_round_trips(finished, tmp_path):
    _, url, _ = finished
    out = tmp_path / "e.json"
    result = runner.invoke(app, ["export", "cli-alloy", "-f", "json", "-o", str(out), "--store", url])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["campaign"] == "cli-alloy" and data["objective"]["goal"] == "min"
    assert len(data["experiments"]) == 10
    assert set(data["experiments"][0]["params"]) == {"x_Cu", "x_Ag", "x_Au"}


def test_export_rejects_an_unknown_format(finished):
    _, url, _ = finished
    result = runner.invoke(app, ["export", "cli-alloy", "--format", "xml", "--store", url])
    assert result.exit_code == 2 and "--format: expected csv or json (got 'xml')" in result.output


def test_a_bad_store_url_is_a_clear_error(tmp_path):
    spec = write_campaign(tmp_path, alloy_yaml(name="x", budget=6))
    result = runner.invoke(app, ["run", str(spec), "--store", "nosuchdb://foo"])
    assert result.exit_code == 2
    assert "--store: cannot use 'nosuchdb://foo'" in result.output and "Traceback" not in result.output


def test_running_a_changed_file_under_an_existing_name_exits_2(finished):
    _, url, spec = finished
    changed = spec.parent / "changed.yaml"
    changed.write_text(spec.read_text().replace("kind: ei", "kind: ucb"))
    result = runner.invoke(app, ["run", str(changed), "--store", url])
    assert result.exit_code == 2
    assert "acquisition.kind: differs from the campaign of the same name" in result.output


def test_a_campaign_stored_before_a_refusal_resumes_with_the_fixed_file(tmp_path):
    """A setting this version refuses (min_distance on a pool, a noise floor above 0.5), stored by an older
    version: the file without it resumes the campaign, with a note naming the fields, and keeps its results.
    A changed space is still refused, whatever else was refused."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = write_campaign(tmp_path, alloy_yaml(name="old", budget=6))
    assert runner.invoke(app, ["run", str(spec), "--store", url, "-q"]).exit_code == 0

    def older(s):
        s["acquisition"]["min_distance"] = 0.1
        s["model"]["params"]["noise_floor"] = 0.9
    edit_stored_spec(url, "old", older)
    before = [(e.id, e.value) for e in _experiments(url, "old")]
    assert runner.invoke(app, ["extend", "old", "--budget", "8", "--store", url]).exit_code == 0

    moved = write_campaign(tmp_path, alloy_yaml(name="old", budget=8).replace("x_Cu, x_Ag, x_Au", "x_Ag, x_Cu, x_Au"),
                           "moved.yaml")
    result = runner.invoke(app, ["run", str(moved), "--store", url, "-q"])
    assert result.exit_code == 2 and "space.pool.inputs: differs from the campaign" in result.output

    result = runner.invoke(app, ["run", str(spec), "--store", url, "-q"])
    assert result.exit_code == 0, result.output
    # min_distance may change on resume (since fuzz round eighteen), so only the noise floor is named
    assert ("resumes with this file's model.params.noise_floor: the stored value is refused by this version"
            ) in " ".join(result.output.split())
    after = [(e.id, e.value) for e in _experiments(url, "old")]
    assert after[:6] == before and len(after) == 8
    st = Store(url)
    stored = st.get_campaign("old").spec
    st.close()
    assert stored["acquisition"]["min_distance"] is None and "noise_floor" not in stored["model"]["params"]


def test_a_stored_setting_that_still_passes_is_not_replaced(finished, tmp_path):
    """The leniency is only for a stored value that is refused: a valid stored setting must still match."""
    _, url, spec = finished
    changed = tmp_path / "changed.yaml"
    changed.write_text(spec.read_text().replace("kind: gp}", "kind: gp, params: {noise_floor: 0.01}}"))
    result = runner.invoke(app, ["run", str(changed), "--store", url])
    assert result.exit_code == 2 and "model.params.noise_floor: differs from the campaign" in result.output, result.output


def _experiments(url: str, name: str) -> list:
    st = Store(url)
    try:
        return st.experiments(st.get_campaign(name).id)
    finally:
        st.close()


def test_plugins_lists_the_built_ins():
    result = runner.invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for kind in ("lookup", "function", "gp", "random-forest", "ei", "ucb", "pi", "max-variance", "target"):
        assert kind in result.output


def test_cli_starts_without_tensorflow():
    code = ("import sys, orchestrator.cli, orchestrator.config, orchestrator.engine; "
            "bad = [m for m in ('tensorflow', 'gpflow', 'ase', 'dask') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, f"imported at start-up: {proc.stdout}"
    helped = subprocess.run([sys.executable, "-m", "orchestrator", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "validate" in helped.stdout and "run" in helped.stdout


def test_the_demo_campaign_validates():
    result = runner.invoke(app, ["validate", str(CAMPAIGNS / "alloy_emt_lookup.yaml")])
    assert result.exit_code == 0 and "pool of 561 candidates" in result.output
    assert "more than the pool's" not in result.output


def test_validate_says_when_the_budget_is_more_than_the_pool(tmp_path):
    text = (CAMPAIGNS / "alloy_emt_lookup.yaml").read_text()
    assert "max_experiments: 40" in text
    path = tmp_path / "alloy.yaml"
    path.write_text(text.replace("max_experiments: 40", "max_experiments: 1000"))
    (tmp_path / "data").symlink_to(CAMPAIGNS / "data")
    result = runner.invoke(app, ["validate", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "budget 1000 (more than the pool's 561 candidates: the campaign stops when every one is measured)" \
        in " ".join(result.output.split())


@pytest.mark.parametrize("command", [["status"], ["export", "x"], ["report", "x"]])
def test_reading_a_store_that_does_not_exist_is_an_error_not_a_new_database(tmp_path, command):
    typo = tmp_path / "tpyo.db"
    result = runner.invoke(app, [*command, "--store", f"sqlite:///{typo}"])
    assert result.exit_code == 2
    assert f"--store: no database at '{typo}'" in result.output
    assert not typo.exists()


def test_export_to_an_unwritable_path_is_a_clear_error(finished, tmp_path):
    _, url, _ = finished
    target = tmp_path / "missing-folder" / "e.csv"
    result = runner.invoke(app, ["export", "cli-alloy", "--out", str(target), "--store", url])
    assert result.exit_code == 2
    assert f"--out: cannot write '{target}'" in result.output and "Traceback" not in result.output


def test_running_a_folder_says_so(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder, not a campaign file" in result.output


def test_tensorflow_warnings_after_the_quiet_import_reach_stderr_whole():
    """TensorFlow's logger, made while stderr was diverted during the quiet import, once kept the diverted
    stream after it was closed: every later warning (e.g. tf.function retracing) printed "--- Logging error
    --- ... I/O operation on closed file" with a call stack instead of the warning."""
    code = ("from orchestrator.models.tf_quiet import import_tensorflow\n"
            "import_tensorflow()\n"
            "import tensorflow as tf\n"
            "tf.get_logger().warning('a warning after the quiet import')\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "LOOPLAB_TF_LOGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "a warning after the quiet import" in out.stderr
    assert "Logging error" not in out.stderr and "closed file" not in out.stderr, out.stderr


def test_a_run_that_fits_the_gp_prints_nothing_on_stderr(tmp_path):
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA notices) must not reach the user's terminal."""
    store = f"sqlite:///{tmp_path / 'quiet.db'}"
    env = {k: v for k, v in __import__("os").environ.items() if k != "LOOPLAB_TF_LOGS"}
    out = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(CAMPAIGNS / "branin_gp_ei.yaml"),
                          "--store", store, "--max-steps", "2", "--quiet"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr


@pytest.mark.parametrize("where", ["folder", "missing"])
def test_daemon_log_file_that_cannot_be_written_is_a_clear_error(tmp_path, where):
    folder = tmp_path / "campaigns"
    folder.mkdir()
    log_file = folder if where == "folder" else tmp_path / "no" / "such" / "daemon.log"
    db = tmp_path / "d.db"
    result = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{db}", "--log-file", str(log_file),
                                 "--exit-when-done"])
    assert result.exit_code == 2
    expected = "is not a regular file" if where == "folder" else "cannot write to"
    assert "--log-file: " in result.output and expected in result.output and "Traceback" not in result.output
    assert not db.exists() and not (folder / ".looplab-daemon.lock").exists()  # nothing started


def test_a_log_file_on_a_pipe_is_refused_as_not_a_regular_file(tmp_path):
    """Fuzz round thirteen: --log-file /dev/stdout with stdout a pipe was refused as a missing folder (the path
    resolves to 'pipe:[N]', which no path names)."""
    spec = tmp_path / "b.yaml"
    spec.write_text((ROOT / "campaigns" / "branin_gp_ei.yaml").read_text())
    res = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(spec), "--store",
                          f"sqlite:///{tmp_path / 's.db'}", "-q", "--log-file", "/dev/stdout"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error --log-file: '/dev/stdout' exists and is not a regular file (a folder, "
                                 "device or pipe)"), res.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("target, fragment", [
    ("campaign", "is the campaign file"),
    ("other.yaml", "is named like a campaign file (a daemon watching its folder would read it as one)"),
    ("new.yml", "is named like a campaign file"),  # fuzz round thirteen: a daemon read its own new log as one
    ("store", "is the store's database file"),
    ("pool.csv", "is a .csv file (data?)"),
    ("/dev/full", "is not a regular file"),
    ("new-store", "is the store's database file"),  # a store not created yet: both would write the file
    ("other.db", "is a SQLite database (a store?)"),
])
def test_a_log_file_that_would_damage_a_file_is_refused_before_the_start(tmp_path, target, fragment):
    """Found by the fuzz round of 2026-12-04: --log-file CAMPAIGN.yaml appended log lines to the campaign file,
    and --log-file /dev/full printed a logging traceback per line."""
    spec = tmp_path / "b.yaml"
    spec.write_text((ROOT / "campaigns" / "branin_gp_ei.yaml").read_text())
    store = tmp_path / "s.db"
    runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{store}", "-q", "--max-steps", "1"])
    if target == "new-store":
        store = tmp_path / "new.db"
    paths = {"campaign": spec, "store": store, "new-store": store}
    log = paths.get(target, tmp_path / target)
    if target.endswith((".yaml", ".csv")):
        log.write_text("x: 1\n")
    if target == "other.db":
        import sqlite3

        with sqlite3.connect(log) as conn:
            conn.execute("create table t (x)")
    before = {p: p.read_bytes() for p in (spec, log) if p.is_file() and p != store}
    result = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{store}", "-q", "--log-file", str(log)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("error --log-file: ") and fragment in result.output, result.output
    assert {p: p.read_bytes() for p in before} == before
    if target == "new-store":
        assert not store.exists()
    else:
        assert len(Store(f"sqlite:///{store}").experiments(1)) == 5  # the campaign did not go on


def test_a_log_file_that_fills_up_mid_run_is_one_warning_not_a_traceback_per_line(tmp_path, capsys):
    import errno
    import logging

    from orchestrator.cli import _log_file

    handler = _log_file(tmp_path / "run.log")

    class Full:
        def write(self, _text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    handler.stream = Full()
    logger = logging.getLogger("looplab.test-full")
    logger.addHandler(handler)
    try:
        for i in range(5):
            logger.warning("line %d", i)
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    assert err.count("warning --log-file: cannot write to") == 1 and "No space left on device" in err


def _daemon_until_done(tmp_path, files: dict[str, str]):
    """``daemon --exit-when-done`` on a folder holding ``files`` (name -> text)."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    result = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{tmp_path / 'd.db'}",
                                 "--exit-when-done", "--rescan", "0.2"], env={"COLUMNS": "400"})
    return folder, result


def test_a_daemon_that_ends_without_a_campaign_file_says_so(tmp_path):
    folder, result = _daemon_until_done(tmp_path, {"notes.txt": "not a campaign"})
    assert result.exit_code == 0, result.output
    assert f"no campaign file (*.yaml or *.yml, any case, not hidden) in {folder.resolve()}: is it the right " \
        "folder?" in " ".join(result.output.split())
    assert not (tmp_path / "d.db").exists()  # nothing ran: the store it created is removed (round seven)


def test_a_daemon_runs_upper_case_yaml_files_and_leaves_hidden_ones_alone(tmp_path):
    """Round ten's review: B.YAML (as some tools save it) was ignored, and .a.yaml (an editor's backup, or a file
    put aside) was run."""
    flat = ("name: {}\nspace:\n  parameters:\n    - {{name: x, type: float, low: 0, high: 0.9}}\n"
            "objective: {{name: y, goal: max}}\noracle: {{kind: 'oracles_for_tests:Async'}}\n"
            "model: {{kind: random-forest}}\ninitial: {{n: 2}}\nbudget: {{max_experiments: 2}}\n")
    folder, result = _daemon_until_done(tmp_path, {"B.YAML": flat.format("upper"), ".a.yaml": flat.format("hidden")})
    assert result.exit_code == 0, result.output
    st = Store(f"sqlite:///{tmp_path / 'd.db'}")
    assert [c.name for c in st.list_campaigns()] == ["upper"]
    st.close()


@pytest.mark.parametrize("existing", [False, True])
def test_a_campaign_that_fails_to_load_leaves_no_empty_log_file(tmp_path, existing):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nbudget: {max_experiments: -3}\n")
    log_file = tmp_path / "run.log"
    if existing:  # a log the user already had is left as it was
        log_file.write_text("earlier lines\n")
    result = runner.invoke(app, ["run", str(bad), "--store", f"sqlite:///{tmp_path / 's.db'}", "--log-file",
                                 str(log_file)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    if existing:
        assert log_file.read_text() == "earlier lines\n"
    else:
        assert not log_file.exists()


def test_an_exit_when_done_daemon_with_an_invalid_file_exits_2(tmp_path):
    """Found by the fuzz round of 2026-12-04: a daemon whose every file was invalid ran nothing and exited 0, so
    a script or CI job could not tell."""
    _, result = _daemon_until_done(tmp_path, {"bad.yaml": "name: bad\nbudget: {max_experiments: -3}\n"})
    assert result.exit_code == 2, result.output
    assert "1 campaign file(s) were invalid and did not run (bad.yaml" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "d.db").exists()  # the store it created for nothing is gone (it was left, empty)


def test_an_exit_when_done_daemon_with_an_invalid_file_leaves_an_existing_store_as_it_was(tmp_path):
    from orchestrator.store import Store

    Store(f"sqlite:///{tmp_path / 'd.db'}").close()
    before = (tmp_path / "d.db").read_bytes()
    _, result = _daemon_until_done(tmp_path, {"bad.yaml": "name: bad\nbudget: {max_experiments: -3}\n"})
    assert result.exit_code == 2, result.output
    assert (tmp_path / "d.db").read_bytes() == before


def test_a_bad_store_url_from_the_environment_is_named_as_such_and_an_empty_one_is_unset(tmp_path):
    """Found by the fuzz round of 2026-12-04 (evening): LOOPLAB_STORE=garbage was blamed on --store, which the
    user had not given; LOOPLAB_STORE="" was taken as the URL ''. And a campaign name over 100 characters was
    refused for its characters, not its length."""
    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120, env=dict(os.environ, COLUMNS="300", **env))

    p = run("status", LOOPLAB_STORE="garbage")
    assert p.returncode == 2 and p.stderr.startswith("error --store (from $LOOPLAB_STORE): cannot use 'garbage'"), \
        p.stderr
    p = run("status", "--store", "garbage", LOOPLAB_STORE="garbage")
    assert p.returncode == 2 and p.stderr.startswith("error --store: cannot use 'garbage'"), p.stderr
    p = run("status", LOOPLAB_STORE="")
    assert p.returncode == 2 and "no database at 'looplab.db'" in p.stderr, p.stderr  # the default URL
    long = write_campaign(tmp_path, alloy_yaml(name="n" * 300, model="random-forest"), "long.yaml")
    p = run("validate", str(long))
    assert p.returncode == 2 and "name: must be at most 100 characters long (got 300)" in p.stderr, p.stderr


def test_a_run_whose_results_are_all_the_same_says_so(tmp_path):
    """An oracle that answers the same value to every experiment (a misconfigured one) ran to the end without a
    word (fuzz round of 2026-12-05)."""
    spec = tmp_path / "c.yaml"
    spec.write_text("name: flat\nspace:\n  parameters:\n    - {name: x, type: float, low: 0, high: 0.9}\n"
                    "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:Constant'}\n"
                    "model: {kind: random-forest}\ninitial: {n: 3}\nbudget: {max_experiments: 4}\n"
                    "executor: {kind: inline}\n")
    res = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{tmp_path / 's.db'}", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "all 4 results of campaign flat are the same value (5): the oracle may not read the inputs" in \
        " ".join(res.output.split())


def test_a_target_beyond_the_results_float_precision_is_said_during_the_run_and_at_its_end(tmp_path):
    """Fuzz round ten: target_value 1e300 for results near 1 made every |result - target| the same float, so
    the goal ranked every result alike; the run went on to its budget with no word."""
    spec = tmp_path / "c.yaml"
    spec.write_text("name: far\nspace:\n  parameters:\n    - {name: x1, type: float, low: 0, high: 1}\n"
                    "objective: {name: y, goal: target, target_value: 1e300}\n"
                    "oracle: {kind: 'oracles_for_tests:Async'}\nmodel: {kind: random-forest}\ninitial: {n: 3}\n"
                    "budget: {max_experiments: 4}\n")
    res = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{tmp_path / 's.db'}"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    text_ = " ".join(res.output.split())
    assert "results of campaign far (" in text_ and ") are all equally far from objective.target_value (1e+300) " \
        "in floating point, so the goal ranks them all the same" in text_
    assert text_.count("are all equally far") == 2  # when the first results came, and at the end
    near = spec.read_text().replace("1e300", "0.5").replace("name: far", "name: near")
    spec.write_text(near)
    res = runner.invoke(app, ["run", str(spec), "--store", f"sqlite:///{tmp_path / 's.db'}"], env={"COLUMNS": "400"})
    assert res.exit_code == 0 and "equally far" not in res.output, res.output


def test_a_daemon_and_status_say_when_every_result_is_the_same(tmp_path):
    """The note of the run above was said by `looplab run` only: a daemon and `status` said nothing (fuzz round
    seven, 2026-12-05)."""
    folder, result = _daemon_until_done(tmp_path, {"flat.yaml": (
        "name: flat\nspace:\n  parameters:\n    - {name: x, type: float, low: 0, high: 0.9}\n"
        "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:Constant'}\n"
        "model: {kind: random-forest}\ninitial: {n: 3}\nbudget: {max_experiments: 4}\nexecutor: {kind: inline}\n")})
    assert result.exit_code == 0, result.output
    said = "all 4 results of campaign flat are the same value (5): the oracle may not read the inputs"
    assert said in " ".join(result.output.split())
    status = runner.invoke(app, ["status", "--store", f"sqlite:///{tmp_path / 'd.db'}"], env={"COLUMNS": "400"})
    assert status.exit_code == 0 and said in " ".join(status.output.split()), status.output


def test_an_exit_when_done_daemon_exits_1_when_a_campaign_ended_on_its_failures(tmp_path):
    """A campaign stopped by failures.max_failure_rate made `looplab run` exit 1 but a daemon exit 0, so a
    script could not tell (fuzz round seven, 2026-12-05)."""
    folder, result = _daemon_until_done(tmp_path, {
        "broken.yaml": ("name: broken\nspace:\n  parameters:\n    - {name: x1, type: float, low: 0, high: 1}\n"
                        "    - {name: x2, type: float, low: 0, high: 1}\n"
                        "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:Flaky', params: "
                        "{threshold: -1}}\nmodel: {kind: random-forest}\ninitial: {n: 4}\n"
                        "budget: {max_experiments: 8}\nfailures: {max_failure_rate: 0.5, min_experiments: 4}\n"
                        "executor: {kind: inline}\n"),
        "fine.yaml": ("name: fine\nspace:\n  parameters:\n    - {name: x1, type: float, low: 0, high: 1}\n"
                      "    - {name: x2, type: float, low: 0, high: 1}\n"
                      "objective: {name: y, goal: max}\noracle: {kind: 'oracles_for_tests:Flaky', params: "
                      "{threshold: 2}}\nmodel: {kind: random-forest}\ninitial: {n: 3}\n"
                      "budget: {max_experiments: 4}\nexecutor: {kind: inline}\n")})
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "1 campaign(s) ended on their failures (broken.yaml" in out and "Traceback" not in out


def test_a_campaign_file_that_is_a_broken_link_is_an_invalid_file_of_the_daemon(tmp_path):
    """A dangling link (or a loop of links) among a daemon's campaign files was skipped without a word, and
    --exit-when-done exited 0 as if every file had run (fuzz round eight)."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "gone.yaml").symlink_to(tmp_path / "nowhere" / "x.yaml")
    (folder / "a.yml").symlink_to(folder / "b.yml")
    (folder / "b.yml").symlink_to(folder / "a.yml")
    result = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{tmp_path / 'd.db'}",
                                 "--exit-when-done", "--rescan", "0.2"], env={"COLUMNS": "400"})
    out = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"gone.yaml: a link to {tmp_path / 'nowhere' / 'x.yaml'}, which is not a file (it does not exist, or the " \
           "links loop); fix the link or remove it" in out
    assert "3 campaign file(s) were invalid and did not run (a.yml, b.yml, gone.yaml)" in out


def test_a_daemon_store_named_like_a_campaign_file_in_its_folder_is_refused(tmp_path):
    """Fuzz round eight: --store sqlite:///FOLDER/store.yml made the daemon create its database in the folder,
    then report it as a campaign file with a YAML syntax error, leaving the file behind."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    result = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{folder / 'store.yml'}",
                                 "--exit-when-done"])
    assert result.exit_code == 2 and "--store: " in result.output and "would read its own database as a " \
        "campaign file" in " ".join(result.output.split()), result.output
    assert list(folder.iterdir()) == []


def test_a_folder_or_device_named_like_a_campaign_file_is_skipped_with_a_warning(tmp_path, caplog):
    """Fuzz round nine: a folder named x.yaml, or a link to /dev/null, was skipped without a word."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "data.yaml").mkdir()
    (folder / "null.yml").symlink_to("/dev/null")
    result = runner.invoke(app, ["daemon", str(folder), "--store", f"sqlite:///{tmp_path / 'd.db'}",
                                 "--exit-when-done", "--rescan", "0.2"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records if "not a campaign file: skipped" in r.getMessage()]
    assert sorted(said) == ["file=data.yaml is a folder, not a campaign file: skipped",
                            "file=null.yml is not a regular file (a device?), not a campaign file: skipped"]
