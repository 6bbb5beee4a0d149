"""Batch alignment of a catalogue: many songs, one engine per worker, resumable, with an error report.

Input (:func:`discover_jobs`):

- a **directory** of pairs: every audio file (``song.mp3``) with the lyrics of the same stem
  (``song.txt``) beside it; an audio file without lyrics fails (and is reported), a ``.txt`` without
  audio is ignored (notes, READMEs);
- a **CSV** (header row) or **JSONL** list with the fields ``audio``, ``lyrics`` and optionally
  ``language`` and ``out``; relative paths are relative to the list's folder (``out``: to OUT_DIR).

Every song becomes one :class:`BatchJob` with one output file ``OUT_DIR/<audio stem><suffix>``.
:func:`run_batch` then, per song:

1. **skips** it when its output exists and parses back with the format's reader (outputs are
   written atomically, so a killed run leaves whole files or none);
2. otherwise aligns it in one of ``jobs`` worker processes (``spawn``ed; each creates the engine once
   and reuses it for all its songs; each dies with the parent through ``PR_SET_PDEATHSIG``), or in
   this process when ``jobs`` is 1;
3. writes the output atomically, or, when the song fails (undecodable audio, empty lyrics, ...), one
   JSON line ``{"id", "audio", "lyrics", "output", "error", "message"}`` to the error report
   (``OUT_DIR/errors.jsonl`` by default; each run replaces it, a run without failures leaves
   none) -- the other songs go on.

Progress: a tqdm bar (songs, ETA) on a terminal, else a log line every
:func:`lyricalign.progress.log_interval` seconds. A song that cannot even start because the method
is unusable (e.g. ``ctc`` without an installed model) stops the whole batch with that error.

Modules: :mod:`~lyricalign.batch.jobs` (the records and discovery), :mod:`~lyricalign.batch.pool`
(the engine per process and the worker pool), :mod:`~lyricalign.batch.run` (resume, the error
report, :func:`run_batch`).
"""

from .jobs import AUDIO_SUFFIXES, LIST_FIELDS, LYRICS_SUFFIX, BatchJob, BatchOptions, BatchSummary, JobOutcome, discover_jobs
from .pool import FATAL_ERRORS, WORKER_DIED
from .run import ERRORS_NAME, is_done, run_batch

__all__ = [
    "AUDIO_SUFFIXES", "ERRORS_NAME", "FATAL_ERRORS", "LIST_FIELDS", "LYRICS_SUFFIX", "WORKER_DIED", "BatchJob",
    "BatchOptions", "BatchSummary", "JobOutcome", "discover_jobs", "is_done", "run_batch",
]
