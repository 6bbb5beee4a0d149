"""Exception hierarchy: every error a user can cause is a :class:`LyricalignError`.

The CLI turns these into a one-line message and a non-zero exit; the service turns them
into 4xx responses. Anything else escaping is a bug.
"""


class LyricalignError(Exception):
    """Base class for errors caused by input or environment, not by a bug."""


class AudioError(LyricalignError):
    """Audio could not be read, or is unusable (empty, silent, too long)."""


class LyricsError(LyricalignError):
    """Lyrics are empty or unusable."""


class ModelError(LyricalignError):
    """An acoustic model is missing, unreadable or inconsistent."""


class AlignmentError(LyricalignError):
    """Alignment is impossible for this input (e.g. more tokens than audio frames)."""


class DatasetError(LyricalignError):
    """A dataset folder or manifest is malformed."""


class EngineUnavailableError(LyricalignError):
    """An alignment method needs a component (library, binary, model) that is not installed."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread (the CLI's handler) so that ``finally`` blocks remove
    temporary files; a BaseException, like KeyboardInterrupt, so that no ``except Exception`` eats it."""


#: The signals a handler that catches ``Exception`` must still stop for (see :func:`interrupt_in_chain`).
STOP_SIGNALS: tuple[type[BaseException], ...] = (KeyboardInterrupt, Terminated)


def interrupt_in_chain(error: BaseException) -> BaseException | None:
    """The :data:`STOP_SIGNALS` exception (Ctrl-C, SIGTERM) that ``error`` is, or wraps through its
    ``__cause__`` / ``__context__`` chain; None if there is none.

    Why: a signal whose handler raises while numba's dispatcher runs a ``nogil`` function (the
    Viterbi kernels) surfaces as ``SystemError: CPUDispatcher(...) returned a result with an
    exception set``, caused by the KeyboardInterrupt (or Terminated). A handler that catches
    ``Exception`` to report one bad item and go on must stop instead, as for the signal itself.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, STOP_SIGNALS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
