"""A stage progress bar on a terminal (stderr); silent when stderr is not a TTY (pipes, CI)."""

from __future__ import annotations

import sys
from typing import Sequence


class Stages:
    """``with Stages(["audio", "align"]) as s: ...; s.next()`` shows which stage is running."""

    def __init__(self, names: Sequence[str], enabled: bool | None = None) -> None:
        self.names = list(names)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None
        self._done = 0

    def __enter__(self) -> "Stages":
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=len(self.names), desc=self.names[0], unit="step", leave=False, file=sys.stderr)
        return self

    def next(self) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
            if self._done < len(self.names):
                self._bar.set_description(self.names[self._done])

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
