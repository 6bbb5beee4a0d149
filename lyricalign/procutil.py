"""Child processes that die with their parent.

A ``kill -9`` of a server worker runs no clean-up code, so its pool processes would be re-parented
to PID 1 and keep running (and holding ~1 GB each for an HMM engine). :func:`die_with_parent`,
called first thing in a child (e.g. as a ``ProcessPoolExecutor`` initializer), asks the Linux
kernel to send the child ``SIGKILL`` when its parent thread exits (``PR_SET_PDEATHSIG``); elsewhere,
a daemon thread polls the parent's pid and exits the child when it changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_S = 1.0


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Make this process receive ``sig`` when its parent dies (or exit at once if it already has).

    ``parent_pid``: the pid the child was started by (``os.getpid()`` in the parent, passed as an
    initializer argument); it closes the race where the parent dies before this call runs.
    """
    expected = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux") and _prctl_pdeathsig(sig):
        if os.getppid() != expected:  # the parent died before prctl took effect
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(expected,), name="parent-watch", daemon=True).start()


def _prctl_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError) as e:
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", e)
        return False


def _watch_parent(expected: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCH_INTERVAL_S):
        if os.getppid() != expected:
            os._exit(1)
