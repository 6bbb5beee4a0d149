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
