"""Progress of long runs: a callback interface for the core, and its displays for the CLI.

**Reporting (engines, decoding, kernels).** Code doing a long piece of work calls
:func:`report_progress` ``(stage, fraction)`` now and then -- ``stage`` a short label such as
``"viterbi"``, ``fraction`` how much of *that stage* is done, in [0, 1]. The call goes to the
:data:`ProgressCallback` installed by the caller with :func:`progress_callback` in the current
context (a :class:`contextvars.ContextVar`, so concurrent service requests and threads that did not
install one see nothing), and is a cheap no-op when none is installed. No engine signature changes
for it, which lets an engine hook in without touching the :class:`~lyricalign.engines.Engine`
interface. Guidelines for engine authors:

- call it at the start of a stage with 0.0 and at its end with 1.0, and in between at a natural
  granularity (a window batch, a chunk of frames): at most a few hundred calls per stage;
- stages run one after another; a new label starts a new stage (its fraction starts again at 0);
- the report decides nothing (it returns None); callbacks must be cheap and must not raise.
- from a worker thread of your own, copy the context (``contextvars.copy_context().run``) or the
  reports of that thread go nowhere.

Labels in use: ``decode`` (audio decoding), ``scoring and search`` (hmm engine), ``activity`` (vocal activity), ``acoustic model`` (ctc
windows), ``viterbi`` (ctc search), ``synthesis`` / ``features`` / ``dtw`` (dtw engine).

**Displays (CLI).** :class:`Stages` shows the CLI's coarse stages (lyrics, audio, model, align,
write) and, inside them, the reported sub-stage and its percentage: a tqdm bar on a terminal, else a
log line every :func:`log_interval` seconds from a background ticker (so a stage that reports
nothing for a minute still shows it is alive). :class:`CountProgress` does the same for a count of
items (batch alignment: songs done, failed, songs per minute, ETA). Log lines go to the
``lyricalign.progress`` logger, which the CLI shows at its default verbosity.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
from typing import Callable, Iterator, Sequence

logger = logging.getLogger("lyricalign.progress")

#: ``callback(stage, fraction)``: ``fraction`` of ``stage`` is done, in [0, 1].
ProgressCallback = Callable[[str, float], None]

#: Seconds between progress log lines when stderr is not a terminal (env LYRICALIGN_PROGRESS_INTERVAL).
DEFAULT_LOG_INTERVAL = 10.0

_current: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar("lyricalign_progress", default=None)


def report_progress(stage: str, fraction: float) -> None:
    """Tell the installed :data:`ProgressCallback` (if any) that ``fraction`` of ``stage`` is done."""
    callback = _current.get()
    if callback is not None:
        callback(stage, min(max(float(fraction), 0.0), 1.0))


@contextlib.contextmanager
def progress_callback(callback: ProgressCallback | None) -> Iterator[None]:
    """Install ``callback`` for :func:`report_progress` calls made in this context (None: silence)."""
    token = _current.set(callback)
    try:
        yield
    finally:
        _current.reset(token)


def log_interval() -> float:
    """Seconds between non-interactive progress lines: $LYRICALIGN_PROGRESS_INTERVAL or 10."""
    raw = os.environ.get("LYRICALIGN_PROGRESS_INTERVAL")
    try:
        value = float(raw) if raw else DEFAULT_LOG_INTERVAL
    except ValueError:
        value = DEFAULT_LOG_INTERVAL
    return value if value > 0 else DEFAULT_LOG_INTERVAL


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Ticker:
    """Calls ``tick()`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, interval: float, tick: Callable[[], None]) -> None:
        self._interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Stages:
    """``with Stages(["audio", "align"]) as s: ...; s.next()``: which stage runs, and how far it is.

    Also a :data:`ProgressCallback` (``with progress_callback(stages): ...``): a reported sub-stage
    (e.g. ``viterbi``) is shown inside the current stage with its percentage and the time left in it.
    ``enabled`` None: a tqdm bar when stderr is a terminal, else periodic log lines.
    """

    def __init__(self, names: Sequence[str], enabled: bool | None = None, interval: float | None = None) -> None:
        self.names = list(names)
        self.interactive = sys.stderr.isatty() if enabled is None else enabled
        self.interval = log_interval() if interval is None else interval
        self._lock = threading.Lock()
        self._bar = None
        self._ticker: _Ticker | None = None
        self._done = 0
        self._started = time.monotonic()
        self._sub: str | None = None
        self._fraction = 0.0
        self._sub_started = self._started

    def __enter__(self) -> "Stages":
        if self.interactive:
            from tqdm import tqdm

            self._bar = tqdm(total=100, desc=self._label(), unit="%", leave=False, file=sys.stderr,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
        self._ticker = _Ticker(1.0 if self.interactive else self.interval, self._tick)
        self._ticker.start()
        return self

    @property
    def current(self) -> str:
        return self.names[min(self._done, len(self.names) - 1)]

    def _label(self) -> str:
        label = f"[{min(self._done + 1, len(self.names))}/{len(self.names)}] {self.current}"
        return f"{label}: {self._sub}" if self._sub else label

    def next(self) -> None:
        """The current stage is finished; the next one starts."""
        with self._lock:
            self._done += 1
            self._set_sub(None, 0.0)

    def __call__(self, stage: str, fraction: float) -> None:
        with self._lock:
            if stage != self._sub or fraction < self._fraction:
                self._set_sub(stage, fraction)
            else:
                self._fraction = fraction
                if self._bar is not None:
                    self._bar.n = round(100 * fraction)
                    self._bar.refresh()

    def _set_sub(self, stage: str | None, fraction: float) -> None:
        self._sub, self._fraction, self._sub_started = stage, fraction, time.monotonic()
        if self._bar is not None and self._done < len(self.names):
            self._bar.set_description_str(self._label(), refresh=False)
            self._bar.reset(total=100)  # restarts the bar's clock: its ETA is the stage's
            self._bar.n = round(100 * fraction)
            self._bar.refresh()

    def _tick(self) -> None:
        with self._lock:
            if self._done >= len(self.names):
                return
            if self._bar is not None:
                self._bar.refresh()  # advances the elapsed time even when nothing reports
                return
            now = time.monotonic()
            message = self._label()
            if self._sub is not None:
                message += f" {100 * self._fraction:.0f}%"
                if self._fraction > 0.02:
                    left = (now - self._sub_started) * (1 - self._fraction) / self._fraction
                    message += f" (~{_format_seconds(left)} left)"
        logger.info("%s, %s elapsed", message, _format_seconds(now - self._started))

    def __exit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        if self._bar is not None:
            self._bar.close()


class CountProgress:
    """Progress over ``total`` items (batch alignment): a tqdm bar with ETA on a terminal, else a log
    line every ``interval`` seconds (done/total, failures, items per minute, ETA).

    ``update(status)`` counts one finished item under ``status`` (e.g. aligned/skipped/failed);
    statuses in ``cheap`` (skipped) are left out of the rate, so a resumed run's ETA is not fooled by
    thousands of instant skips.
    """

    def __init__(self, total: int, *, unit: str = "song", desc: str = "batch", enabled: bool | None = None,
                 interval: float | None = None, cheap: Sequence[str] = ("skipped",)) -> None:
        self.total = total
        self.unit = unit
        self.desc = desc
        self.interactive = sys.stderr.isatty() if enabled is None else enabled
        self.interval = log_interval() if interval is None else interval
        self.counts: dict[str, int] = {}
        self._cheap = set(cheap)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._bar = None
        self._redirect = None
        self._ticker: _Ticker | None = None

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def __enter__(self) -> "CountProgress":
        if self.interactive:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, file=sys.stderr)
            self._redirect = logging_redirect_tqdm()  # warnings print above the bar, not through it
            self._redirect.__enter__()
        else:
            self._ticker = _Ticker(self.interval, self.log_line)
            self._ticker.start()
        return self

    def update(self, status: str) -> None:
        with self._lock:
            self.counts[status] = self.counts.get(status, 0) + 1
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix(self.counts, refresh=False)

    def log_line(self) -> None:
        """Log where the run is: done/total, counts, rate (per minute) and ETA."""
        with self._lock:
            elapsed = time.monotonic() - self._started
            done, counts = self.done, dict(self.counts)
        worked = done - sum(counts.get(s, 0) for s in self._cheap)
        left = self.total - done
        parts = [f"{self.desc}: {done}/{self.total} {self.unit}s"]
        parts += [f"{n} {status}" for status, n in sorted(counts.items())]
        if worked > 0 and elapsed > 0:
            rate = worked / elapsed
            parts.append(f"{60 * rate:.1f} {self.unit}s/min")
            parts.append(f"ETA {_format_seconds(left / rate)}")
        parts.append(f"{_format_seconds(elapsed)} elapsed")
        logger.info(", ".join(parts))

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            if exc_type is None:
                self.log_line()  # the final tally (an error has its own message)
        if self._bar is not None:
            self._redirect.__exit__(None, None, None)
            self._bar.close()
