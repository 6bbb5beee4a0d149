"""Filesystem helpers: atomic writes that respect what the user pointed at, and temp dirs that do not outlive us.

* :func:`atomic_open` writes a regular file atomically (a temporary file beside it, fsynced, renamed
  over it), so an interrupted run never leaves a half-written file. What is *not* a regular file is
  written through, never replaced: a character device (``/dev/null``, ``/dev/stdout``), a FIFO, a
  socket. A symlink is followed: its target is replaced atomically and the link stays a link.
  New files get the mode the umask gives any new file (``0666 & ~umask``); a replaced file keeps its
  mode (``mkstemp``'s ``0600`` would hide a ``.lrc`` from a media server running as another user).
* :func:`check_output_path` refuses, before any work, an output path that cannot be written
  (a directory, a parent that is a file, a folder that takes no files...); :func:`check_output_dir` the
  same for an output folder; :func:`check_not_an_input` an output that is one of the run's inputs.
* :func:`owned_tempdir` is a temporary folder that records its owner (pid + process start time);
  :func:`sweep_stale_tempdirs` removes the folders of owners that are gone, so folders left by a
  ``kill -9`` (no ``finally`` runs) are cleaned at the next start of any process using that prefix.
  :func:`adopt_private_tempdir` does the same for everything a long-lived process and its children
  put in the temp dir (a server worker: its libraries' upload and client folders).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator, Union

from .errors import LyricalignError

PathLike = Union[str, os.PathLike]

logger = logging.getLogger(__name__)

OWNER_FILE = ".lyricalign-owner"  # inside an owned temp dir: "<pid> <process start time in clock ticks>"


class OutputPathError(LyricalignError):
    """An output path that cannot be written (a directory, a missing or non-directory parent...)."""


def current_umask() -> int:
    """The process umask, read without changing it (``/proc``; ``os.umask`` twice elsewhere)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # not thread-safe, hence only the fallback
    os.umask(mask)
    return mask


def check_output_path(path: PathLike) -> Path:
    """Refuse now, before minutes of work, an output path :func:`atomic_open` could not write.

    Returns the path. Raises :class:`OutputPathError` for a directory, or a parent that exists but is
    not a directory or not writable. Missing parents are fine (they are created).
    """
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(f"{target}: is a directory")
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        if not os.access(target, os.W_OK):
            raise OutputPathError(f"{target}: not writable")
        return target  # a device, FIFO or socket: written through
    real = target.resolve()
    _check_creatable(target, real.parent)
    if real.exists() and not os.access(real, os.W_OK):
        raise OutputPathError(f"{target}: not writable")
    return target


def check_output_dir(path: PathLike) -> Path:
    """Refuse now, before any work, an output *folder* that cannot be made or written into.

    Returns the path. Raises :class:`OutputPathError` when ``path`` exists and is not a directory (a
    file where ``data synth -o OUT`` or ``evaluate --plots DIR`` would create files), or when its
    nearest existing ancestor is not a directory or not writable. A missing folder is fine (it is
    created); an existing one must be writable.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{target}: exists and is not a directory (an output folder is expected)")
    _check_creatable(target, target.resolve())
    return target


def _check_creatable(target: Path, folder: Path) -> None:
    """``folder`` (resolved), or its nearest existing ancestor, must be a directory ``target`` can be made in.

    Checked by creating (and removing) a file there: permission bits do not tell root, a read-only
    mount or a pseudo-filesystem (``/proc``, ``/sys``) from a folder that takes files.
    """
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise OutputPathError(f"{target}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{target}: cannot create files in {folder} (permission denied)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".lyricalign-probe-", dir=folder)
    except OSError as e:
        raise OutputPathError(f"{target}: cannot create files in {folder} ({e.strerror or e})") from e
    try:
        os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def check_not_an_input(output: PathLike, inputs: Iterable[PathLike]) -> None:
    """Refuse an output path that names one of ``inputs`` (it would be replaced by the result). Only a
    regular file is replaced: a device such as ``/dev/stdout`` is written through, even when it is the
    terminal ``/dev/stdin`` also is."""
    if not Path(output).is_file():
        return
    for source in inputs:
        with contextlib.suppress(OSError):  # an input that is gone cannot be overwritten
            if os.path.samefile(output, source):
                raise OutputPathError(f"{output}: is an input of this run ({source}); it would be overwritten")


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open ``path`` for writing; see the module docstring for what "atomic" means per file type.

    Regular files (and new paths): on success the data is fsynced and renamed over the target (a
    symlink's target, resolved); on any exception the temporary file is removed and the target is
    untouched. Other existing files (devices, FIFOs, sockets) are opened and written directly.
    """
    binary = "b" in mode
    file_encoding = None if binary else encoding
    target = Path(path)
    if target.exists() and not stat.S_ISREG(target.stat().st_mode) and not target.is_dir():
        with open(target, mode, encoding=file_encoding) as handle:  # write through, never replace
            yield handle
        return
    target = target.resolve() if target.is_symlink() else target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        new_mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        new_mode = 0o666 & ~current_umask()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        os.fchmod(fd, new_mode)
        with os.fdopen(fd, mode, encoding=file_encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


# --- temporary folders that do not outlive their process -----------------------------------

def _start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22); None if gone.

    With the pid it identifies a process even after the pid is reused.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()[19]  # fields after "(comm)" start at field 3


def _owner_alive(folder: Path) -> bool:
    try:
        pid_text, started = (folder / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return True  # being written right now, or not ours to judge
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _start_time(pid) == started


def sweep_stale_tempdirs(prefix: str, parent: PathLike | None = None) -> int:
    """Remove ``<tmp>/<prefix>*`` folders made by :func:`owned_tempdir` whose owner process is gone.

    Folders without an owner file (another tool's, or an older version's) are never touched.
    Returns how many were removed.
    """
    root = Path(parent or tempfile.gettempdir())
    removed = 0
    for folder in root.glob(f"{prefix}*"):
        if not folder.is_dir() or folder.is_symlink() or not (folder / OWNER_FILE).exists():
            continue
        try:
            if folder.stat().st_uid != os.getuid() or _owner_alive(folder):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
        logger.info("removed %s, left by a process that is gone", folder)
    return removed


@contextlib.contextmanager
def owned_tempdir(prefix: str, parent: PathLike | None = None) -> Iterator[Path]:
    """``tempfile.TemporaryDirectory`` that is also cleaned after a ``kill -9`` of its owner.

    The folder holds an owner file (pid + start time); creating one first sweeps the stale folders of
    the same prefix (:func:`sweep_stale_tempdirs`). Yields the folder; removed on exit.
    """
    sweep_stale_tempdirs(prefix, parent)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        (folder / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid()) or 0}\n")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def adopt_private_tempdir(prefix: str) -> Path:
    """Give this process, and the children it starts, a temp folder of its own for its whole life.

    For a long-running process (a server worker) whose libraries make temp files we do not control:
    ``tempfile.tempdir`` and ``$TMPDIR`` point into a new owned folder (so children's folders land
    inside it too), removed at normal exit; after a ``kill -9`` the next process adopting the same
    prefix sweeps it (:func:`sweep_stale_tempdirs`). Returns the folder.
    """
    parent = tempfile.gettempdir()
    sweep_stale_tempdirs(prefix, parent)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (folder / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid()) or 0}\n")
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    atexit.register(shutil.rmtree, folder, True)
    return folder
