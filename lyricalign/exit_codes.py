"""Process exit codes of every ``lyricalign`` command (core, ``data``, ``train``, ``evaluate``).

One module, imported by the CLI and by the folders' plugins, so that ``data_pipeline`` need not
import ``lyricalign.cli`` (which loads the plugins: a cycle) to return the same codes.
"""

EXIT_OK = 0
#: A bug: an exception that is not a :class:`~lyricalign.errors.LyricalignError`.
EXIT_INTERNAL = 1
#: Bad input or environment: one line ``lyricalign: error: ...`` on stderr.
EXIT_USAGE = 2
#: A batch command finished but some of its items failed (listed in its error log), e.g. ``data download``.
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130
#: stdout's reader closed it (``| head``): 128 + SIGPIPE, as a shell reports a process SIGPIPE ended.
EXIT_BROKEN_PIPE = 141
#: SIGTERM: temporary files were removed on the way out.
EXIT_TERMINATED = 143

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_TERMINATED", "EXIT_USAGE"]
