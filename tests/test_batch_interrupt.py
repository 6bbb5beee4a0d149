"""Ctrl-C during ``align --batch`` stops the batch, also when it lands inside a numba kernel.

numba's dispatcher turns a SIGINT that arrives while a ``nogil`` function runs into
``SystemError: CPUDispatcher(...) returned a result with an exception set`` caused by the
KeyboardInterrupt. The batch's per-song handler catches ``Exception`` (one bad song must not stop a
catalogue), so before the fix such a Ctrl-C failed the current song, went on with the next one and
exited 3 (seen with ``lyricalign align --batch songs/ -o out/ --jobs 1`` and SIGINT mid-alignment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lyricalign.errors import LyricsError, Terminated, interrupt_in_chain

REPO = Path(__file__).resolve().parents[1]

# Provokes numba's real SystemError: a nogil kernel called in a loop in the main thread, a one-shot
# SIGALRM whose handler raises KeyboardInterrupt, as SIGINT's does (when it lands between two calls it
# is a plain KeyboardInterrupt: try again). The timer is armed inside the ``try`` and fires once, so the
# interrupt cannot land outside it; no helper thread is involved (a SIGINT sent from a timer thread
# could interrupt the main thread inside ``Thread.start()`` and hang the interpreter's exit).
NUMBA_CTRL_C = r"""
import json, signal, sys
from pathlib import Path
import numpy as np
from numba import njit
from lyricalign.batch.jobs import BatchJob
from lyricalign.batch.pool import outcome_of_error

@njit(nogil=True)
def kernel(out, a):
    s = 0.0
    for _ in range(200):
        for i in range(a.shape[0]):
            s += a[i] * a[i]
    out[0] = s
    return out

def interrupt(signum, frame):
    raise KeyboardInterrupt

out, a = np.zeros(1), np.random.default_rng(0).random(4096)
kernel(out, a)
signal.signal(signal.SIGALRM, interrupt)
wrapped = None
for _ in range(200):
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        while True:
            kernel(out, a)
    except SystemError as e:
        wrapped = e
        break
    except KeyboardInterrupt:
        continue
if wrapped is None:
    sys.exit("the interrupt never landed inside the kernel in 200 tries")
job = BatchJob("song", Path("song.mp3"), Path("song.txt"), Path(sys.argv[1]), "json")
report = {"wrapped": type(wrapped).__name__, "cause": type(wrapped.__cause__).__name__}
try:
    outcome_of_error(job, wrapped, 0.0, engine_ready=True)
    report["raised"] = None
except KeyboardInterrupt as e:
    report["raised"] = type(e).__name__
bug = outcome_of_error(job, RuntimeError("a bug on one song"), 0.0, engine_ready=True)
report["bug"] = [bug.status, bug.error, bug.message]
print(json.dumps(report))
"""


def _as_numba_wraps(signal_type: type[BaseException]) -> SystemError:
    """The ``SystemError`` raised ``from`` a ``signal_type`` exception, as numba's dispatcher raises it."""
    try:
        try:
            raise signal_type
        except signal_type as e:
            raise SystemError("returned a result with an exception set") from e
    except SystemError as e:
        return e


def test_interrupt_in_chain_finds_a_ctrl_c_however_it_is_wrapped() -> None:
    direct = KeyboardInterrupt()
    assert interrupt_in_chain(direct) is direct

    assert isinstance(interrupt_in_chain(_as_numba_wraps(KeyboardInterrupt)), KeyboardInterrupt)

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("while handling it")  # implicit chaining: __context__ only
    except RuntimeError as e:
        during = e
    assert during.__cause__ is None and isinstance(interrupt_in_chain(during), KeyboardInterrupt)

    try:
        try:
            raise ValueError("not an interrupt")
        except ValueError as e:
            raise LyricsError("bad lyrics") from e
    except LyricsError as e:
        unrelated = e
    assert interrupt_in_chain(unrelated) is None

    assert isinstance(interrupt_in_chain(_as_numba_wraps(Terminated)), Terminated)  # SIGTERM's, wrapped alike

    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first  # a cycle must not loop forever
    assert interrupt_in_chain(first) is None


def test_ctrl_c_inside_a_numba_kernel_stops_the_batch_instead_of_failing_the_song(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", NUMBA_CTRL_C, str(tmp_path / "song.json")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["wrapped"] == "SystemError" and report["cause"] == "KeyboardInterrupt", report  # numba's shape
    assert report["raised"] == "KeyboardInterrupt", report  # the batch stops (exit 130), no song is failed
    assert report["bug"] == ["failed", "RuntimeError", "a bug on one song"], report  # other errors: reported
