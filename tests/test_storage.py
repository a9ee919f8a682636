"""Results are written whole or not at all, readable, in a folder of their own, one run at once."""

import os
import re
import stat
import subprocess
import sys
import threading
import time

import pytest

from gc_tutorial.storage import (
    FolderInUseError,
    lock_file,
    lock_folder,
    prepare_output_dir,
    safe_name,
    write_atomically,
)


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
    assert prepare_output_dir(tmp_path / "new" / "folder").is_dir()


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
