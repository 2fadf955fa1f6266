"""The pid lock shared by the daemon (its folder) and the mock robot (its database)."""

import os

import pytest

from oracles import pidlock


def test_a_second_taker_is_told_the_holders_pid_and_may_take_it_once_released(tmp_path):
    path = tmp_path / "x.lock"
    fd = pidlock.take(path)
    assert path.read_text() == str(os.getpid())
    with pytest.raises(pidlock.PidLockError) as err:
        pidlock.take(path)  # another open file description: flock refuses it as another process would be
    assert err.value.problem == pidlock.HELD and err.value.detail == str(os.getpid())
    pidlock.release(fd)
    pidlock.release(pidlock.take(path))


def test_a_link_is_never_followed_and_its_target_is_kept(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (tmp_path / "x.lock").symlink_to(notes)
    with pytest.raises(pidlock.PidLockError) as err:
        pidlock.take(tmp_path / "x.lock")
    assert err.value.problem == pidlock.LINK and notes.read_text() == "my notes"


def test_a_folder_or_a_pipe_by_the_locks_name_is_named_as_such(tmp_path):
    (tmp_path / "dir.lock").mkdir()
    os.mkfifo(tmp_path / "fifo.lock")
    problems = []
    for name in ("dir.lock", "fifo.lock"):
        with pytest.raises(pidlock.PidLockError) as err:
            pidlock.take(tmp_path / name)
        problems.append(err.value.problem)
    assert problems == [pidlock.FOLDER, pidlock.NOT_REGULAR]


def test_a_missing_folder_is_unopenable_with_the_oss_reason(tmp_path):
    with pytest.raises(pidlock.PidLockError) as err:
        pidlock.take(tmp_path / "gone" / "x.lock")
    assert err.value.problem == pidlock.UNOPENABLE and "No such file" in err.value.detail


def test_a_hard_link_or_a_file_holding_no_pid_is_refused_and_left_as_it_is(tmp_path):
    """Fuzz round nineteen: a lock file hard-linked to a store had the store replaced by the pid (4 bytes); only
    symbolic links were refused."""
    store = tmp_path / "other.db"
    store.write_bytes(b"SQLite format 3\x00" + bytes(100))
    os.link(store, tmp_path / "x.lock")
    (tmp_path / "y.lock").write_text("my notes\n")
    problems = []
    for name in ("x.lock", "y.lock"):
        with pytest.raises(pidlock.PidLockError) as err:
            pidlock.take(tmp_path / name)
        problems.append(err.value.problem)
    assert problems == [pidlock.HARD_LINK, pidlock.FOREIGN]
    assert store.read_bytes() == b"SQLite format 3\x00" + bytes(100)
    assert (tmp_path / "y.lock").read_text() == "my notes\n"
    (tmp_path / "z.lock").write_text("12345\n")  # a pid a killed process left: taken over
    pidlock.release(pidlock.take(tmp_path / "z.lock"))
