"""Results are written whole or not at all, readable, in a folder of their own, one run at once."""

import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gc_tutorial.files.storage import (
    FolderInUseError,
    check_only_ours,
    foreign_entries,
    lock_file,
    prepare_output_dir,
    reserve_folder,
    swap_into_place,
    write_atomically,
)
from gc_tutorial.grids.runs_folder import lock_folder, safe_name

OURS = {"table.csv", "results.json"}


def test_write_atomically_replaces_the_whole_file(tmp_path):
    path = tmp_path / "results.json"
    write_atomically(path, "old")
    write_atomically(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_crash_while_writing_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_atomically(path, "complete old results")

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, "half")
    assert path.read_text() == "complete old results"
    assert os.listdir(tmp_path) == ["results.json"]  # no half-written leftovers


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError, match="taken"):
        prepare_output_dir(a_file)
    with pytest.raises(NotADirectoryError, match=r"`runs_dir` must be a folder: .*inside .*taken"):
        prepare_output_dir(a_file / "sub", "runs_dir")
    assert prepare_output_dir(tmp_path / "new" / "folder").is_dir()


def test_output_dir_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert prepare_output_dir("~/out") == tmp_path / "out"
    assert (tmp_path / "out").is_dir()


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_are_readable_as_the_umask_allows(tmp_path, umask, expected):
    old_umask = os.umask(umask)
    try:
        write_atomically(tmp_path / "results.json", "{}")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == expected


def test_lock_folder_refuses_a_second_holder_at_once(tmp_path):
    runs = tmp_path / "runs"
    with lock_folder(runs):
        start = time.monotonic()
        with pytest.raises(FolderInUseError, match=f"runs' is in use: pid {os.getpid()}"):
            with lock_folder(runs):
                pass
        assert time.monotonic() - start < 1.0  # refused, not waited for
    with lock_folder(runs):  # released on exit
        pass
    assert [path.name for path in runs.iterdir()] == [".lock"]


def test_lock_folder_refuses_while_another_process_holds_it(tmp_path):
    hold = (
        "import fcntl, os, sys; folder = sys.argv[1]; os.makedirs(folder, exist_ok=True); "
        "lock = open(os.path.join(folder, '.lock'), 'a'); fcntl.flock(lock, fcntl.LOCK_EX); "
        "print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderInUseError, match=f"pid {holder.pid}|another process"):
            with lock_folder(tmp_path):
                pass
    finally:
        holder.communicate("")
    with lock_folder(tmp_path):  # the holder is gone
        pass


def test_lock_file_beside_a_folder_is_removed_when_released(tmp_path):
    lock_path = tmp_path / ".D.lock"
    with lock_file(lock_path, "output_dir 'D'", remove=True):
        assert lock_path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderInUseError, match=f"output_dir 'D' is in use: pid {os.getpid()}"):
            with lock_file(lock_path, "output_dir 'D'", remove=True):
                pass
    assert list(tmp_path.iterdir()) == []
    with lock_file(lock_path, "output_dir 'D'", remove=True):  # free again
        pass


@pytest.mark.parametrize(
    "text",
    ["../../x", "..", ".", "", "/etc/passwd", "a/b", "a\\b", "sgd gc", "héllo", "-rf", "x" * 300],
)
def test_safe_name_stays_inside_the_runs_folder(tmp_path, text):
    name = safe_name(text)
    assert name and re.fullmatch(r"[A-Za-z0-9._-]+", name), name
    assert ".." not in name and not name.startswith((".", "-")) and len(name) <= 120
    folder = tmp_path / name
    folder.mkdir()
    assert folder.resolve().parent == tmp_path.resolve()


def test_safe_name_keeps_safe_names_and_never_merges_two_texts():
    assert safe_name("adam_gc-lr1e-3.v2") == "adam_gc-lr1e-3.v2"
    texts = ["a/b", "a_b", "a b", "a:b", "../a_b", "", "."]
    names = [safe_name(text) for text in texts]
    assert len(set(names)) == len(texts), names
    assert safe_name("a/b") == safe_name("a/b")  # the same text, the same folder


def test_lock_file_with_wait_waits_for_the_holder_even_one_that_removes_it(tmp_path):
    lock, events = tmp_path / ".study.lock", []

    def waiter():
        with lock_file(lock, "study", wait=True):
            events.append("waiter")

    with lock_file(lock, "study", remove=True):
        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # blocked on the lock, not refused
        events.append("holder")
    thread.join(10)
    assert events == ["holder", "waiter"]


def make_folder(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith("/"):
            (folder / name).mkdir()
        else:
            (folder / name).write_text(f"old {name}")
    return folder


def test_only_visible_entries_we_write_are_ours(tmp_path):
    folder = make_folder(tmp_path / "D", ["table.csv", "results.json", ".hidden", "notes.txt"])
    assert foreign_entries(folder, OURS) == ["notes.txt"]
    assert foreign_entries(make_folder(tmp_path / "E", ["table.csv/"]), OURS) == ["table.csv"]
    assert foreign_entries(tmp_path / "missing", OURS) == []
    check_only_ours(make_folder(tmp_path / "F", ["results.json", ".lock"]), OURS)
    with pytest.raises(ValueError, match=r"`runs_dir` must be .* it holds notes.txt\. Choose"):
        check_only_ours(folder, OURS, name="runs_dir")
    many = make_folder(tmp_path / "G", [f"user{index}.txt" for index in range(7)])
    with pytest.raises(ValueError, match=r"user4.txt, and 2 more\."):
        check_only_ours(many, OURS)


def test_reserving_a_folder_with_user_files_refuses_and_deletes_nothing(tmp_path):
    folder = make_folder(tmp_path / "P", ["results.json", "thesis.tex", "src/"])
    with pytest.raises(ValueError, match="it holds src, thesis.tex"):
        with reserve_folder(folder, OURS):
            pytest.fail("reserved")
    assert sorted(path.name for path in folder.iterdir()) == ["results.json", "src", "thesis.tex"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["P"]


def test_the_swap_replaces_our_entries_and_keeps_every_other(tmp_path):
    folder = make_folder(tmp_path / "D", ["table.csv", "results.json", ".partial.ipynb"])
    with reserve_folder(folder, OURS) as (reserved, staging):
        (staging / "table.csv").write_text("new table")
        (staging / "results.json").write_text("new results")
        make_folder(folder, ["late.txt", "late/"])  # appeared after the check
        swap_into_place(staging, reserved, OURS)
    names = sorted(path.name for path in folder.iterdir())
    assert names == [".partial.ipynb", "late", "late.txt", "results.json", "table.csv"]
    assert (folder / "table.csv").read_text() == "new table"
    assert (folder / ".partial.ipynb").read_text() == "old .partial.ipynb"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["D"]


def test_a_swap_cut_short_is_finished_by_the_next_one_without_deleting(tmp_path):
    folder = make_folder(tmp_path / "D", ["table.csv"])
    make_folder(tmp_path / ".D.old", ["table.csv", "notes.txt", ".hidden"])  # left by a crash
    staging = make_folder(tmp_path / ".D.staging", ["results.json"])
    swap_into_place(staging, folder, OURS)
    assert sorted(path.name for path in folder.iterdir()) == [
        ".hidden",
        "notes.txt",
        "results.json",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["D"]


def test_a_swap_cut_before_the_new_folder_was_in_place_restores_the_old_one(tmp_path):
    make_folder(tmp_path / ".D.old", ["table.csv", "notes.txt"])  # D itself is gone
    staging = make_folder(tmp_path / ".D.staging", ["results.json"])
    swap_into_place(staging, tmp_path / "D", OURS)
    assert sorted(path.name for path in (tmp_path / "D").iterdir()) == ["notes.txt", "results.json"]


def test_a_folder_that_cannot_be_written_is_refused_in_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    with pytest.raises(PermissionError) as error:
        prepare_output_dir(tmp_path / "D", "runs_dir")
    message = str(error.value)
    assert message.startswith(f"Cannot write results in {str(tmp_path)!r} (Read-only file system)")
    assert "`runs_dir` must be a folder you can write to" in message and "Errno" not in message


def test_an_existing_folder_in_a_read_only_parent_is_enough_for_a_runs_folder(
    tmp_path, monkeypatch
):
    folder = make_folder(tmp_path / "runs", [])
    real_temporary_file = tempfile.TemporaryFile

    def parent_read_only(*args, dir=None, **kwargs):
        if Path(dir) == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real_temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr("tempfile.TemporaryFile", parent_read_only)
    assert prepare_output_dir(folder, "runs_dir") == folder  # only the folder is written
    with pytest.raises(PermissionError, match=r"Cannot write results in .*Permission denied"):
        with reserve_folder(folder, OURS):  # a swap stages and locks beside the folder
            pass
