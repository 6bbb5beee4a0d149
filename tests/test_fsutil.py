"""Filesystem and process-lifetime helpers: temp folders that do not outlive a kill -9, children that
die with their parent (issue 9.5), atomic writes with the umask's mode (issue 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lyricalign.fsutil import OWNER_FILE, atomic_write_text, owned_tempdir, sweep_stale_tempdirs


def _wait(condition, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_owned_tempdir_is_removed_on_exit_and_records_its_owner(tmp_path: Path) -> None:
    with owned_tempdir("lyricalign-test-", tmp_path) as folder:
        assert folder.parent == tmp_path and (folder / OWNER_FILE).read_text().split()[0] == str(os.getpid())
    assert not folder.exists()


def test_folder_of_a_killed_process_is_swept_at_next_start(tmp_path: Path) -> None:
    """kill -9 runs no ``finally``: the next owned_tempdir of the same prefix removes the leftover,
    and leaves alone the folders of living owners and folders that are not ours."""
    code = ("import sys, time; from lyricalign.fsutil import owned_tempdir\n"
            f"with owned_tempdir('lyricalign-test-', {str(tmp_path)!r}) as d:\n"
            "    print(d, flush=True); time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    leftover = Path(child.stdout.readline().strip())
    foreign = tmp_path / "lyricalign-test-foreign"
    foreign.mkdir()
    with owned_tempdir("lyricalign-test-", tmp_path) as mine:
        assert leftover.exists()  # its owner is alive: untouched
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert leftover.exists()
        assert sweep_stale_tempdirs("lyricalign-test-", tmp_path) == 1
        assert not leftover.exists() and mine.exists() and foreign.exists()


def test_pool_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """A process-pool worker started with die_with_parent does not survive its parent's kill -9."""
    code = ("import os, time\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "import multiprocessing as mp\n"
            "from lyricalign.procutil import die_with_parent\n"
            "if __name__ == '__main__':\n"
            "    pool = ProcessPoolExecutor(1, mp_context=mp.get_context('spawn'), initializer=die_with_parent,\n"
            "                               initargs=(os.getpid(),))\n"
            "    print(pool.submit(os.getpid).result(), flush=True)\n"
            "    time.sleep(600)\n")
    script = tmp_path / "parent.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert _alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _wait(lambda: not _alive(worker)), f"pool worker {worker} outlived its parent"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_write_gives_new_files_the_umask_mode(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert ((tmp_path / "a.txt").stat().st_mode & 0o777) == 0o666 & ~umask
