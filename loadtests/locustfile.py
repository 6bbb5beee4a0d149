"""Locust scenarios for ``POST /align`` against any running lyricalign server.

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:3000 -u 4 -r 2 -t 60s
    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:3000 --songs ~/songs -u 2 -t 5m

Options of this file (Locust's ``--help`` is printed before a locustfile loads, so it does not list them):

- ``--songs DIR``: real songs, every audio file with a same-stem ``.txt`` of lyrics, of mixed lengths;
  each request takes the next one (users start at different songs). Default: one generated ~10 s
  English song (espeak-ng lines over a chord).
- ``--methods``: the methods to request, with weights, e.g. ``hmm`` or ``ctc:3,hmm:1``. Default:
  none sent, so the server's default method (``GET /info``'s ``default_method``). A ``ctc``
  against an untrained model (``/info`` says ``"trained": false``) is refused at start unless
  ``--allow-untrained`` is given: it measures speed only, its alignments are meaningless.
- ``--language``: sent with every request (default: not sent, the server decides).

``loadtests/run.py`` starts a server, then runs this file in its own Locust process.
A 503 (load shed, with Retry-After) is reported as a failure named ``shed``: under the intended load
there should be none; above it they show how much was refused instead of queued.
"""

from __future__ import annotations

import itertools
import logging
import random
import tempfile
from pathlib import Path

from locust import HttpUser, between, events, task
from locust.env import Environment

from load_songs import LoadSong, read_song, read_songs, write_song  # noqa: I001  (a sibling: Locust adds this folder to sys.path)

logger = logging.getLogger("loadtests")

SONGS: list[LoadSong] = []
METHODS: list[tuple[str, int]] = []  # (method, weight)


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:  # noqa: ANN001  (Locust's configargparse parser)
    group = parser.add_argument_group("lyricalign", "what to send to POST /align")
    group.add_argument("--songs", default="", metavar="DIR",
                       help="folder of audio files with same-stem .txt lyrics (default: a generated 10 s song)")
    group.add_argument("--methods", default="", help="methods with weights, e.g. hmm or ctc:3,hmm:1 "
                                                     "(default: none sent, the server's default method)")
    group.add_argument("--language", default="", help="language sent with each request (default: none, the server's)")
    group.add_argument("--allow-untrained", action="store_true", default=False,
                       help="allow ctc against an untrained (placeholder) model: speed only")


def parse_methods(text: str) -> list[tuple[str, int]]:
    """``"ctc:3,hmm:1"`` -> ``[("ctc", 3), ("hmm", 1)]``, ``""`` -> ``[("", 1)]`` (the server's default);
    ValueError on anything else."""
    methods = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        if not name or (weight and not weight.isdigit()) or (weight and int(weight) < 1):
            raise ValueError(f"--methods: expected name or name:weight (weight >= 1), got {part!r}")
        methods.append((name.strip().lower(), int(weight or 1)))
    return methods or [("", 1)]


@events.init.add_listener
def _load_songs(environment: Environment, **_: object) -> None:
    options = environment.parsed_options
    if options is None:  # Locust used as a library: configure SONGS / METHODS yourself
        return
    try:
        METHODS[:] = parse_methods(options.methods)
        if options.songs:
            SONGS[:] = read_songs(Path(options.songs).expanduser())
        else:
            with tempfile.TemporaryDirectory(prefix="lyricalign-locust-") as tmp:
                SONGS[:] = [read_song(*write_song(Path(tmp)))]
    except ValueError as e:
        _quit(environment, str(e))
        return
    logger.info("%d song(s) (%s), methods: %s", len(SONGS), ", ".join(s.length_class for s in SONGS),
                options.methods or "the server's default")


@events.test_start.add_listener
def _check_server(environment: Environment, **_: object) -> None:
    """Refuse ctc against an untrained model unless --allow-untrained (the default scenario never asks
    for ctc, but a server could default to it)."""
    options = environment.parsed_options
    if options is None or environment.host is None:
        return
    import requests

    try:
        info = requests.get(f"{environment.host.rstrip('/')}/info", timeout=10).json()
    except (requests.RequestException, ValueError) as e:
        _quit(environment, f"GET /info failed ({e}); is {environment.host} a lyricalign server?")
        return
    requested = {m or info.get("default_method") for m, _ in METHODS}
    logger.info("server model %s, default method %s", info.get("model_tag"), info.get("default_method"))
    ctc_model = info.get("ctc_model") or {}
    if "ctc" in requested and not ctc_model:
        _quit(environment, "the server has no CTC model (LYRICALIGN_MODEL_TAG); ctc requests would all be refused")
    elif "ctc" in requested and not options.allow_untrained and not ctc_model.get("trained", False):
        _quit(environment, f"the server's ctc model {ctc_model.get('name')} is untrained (a placeholder): "
                           "its alignments are meaningless; pass --allow-untrained to measure its speed anyway")


def _quit(environment: Environment, message: str) -> None:
    logger.error("lyricalign load test: %s", message)
    environment.process_exit_code = 2
    if environment.runner is not None:
        environment.runner.quit()
    else:
        raise SystemExit(2)


class SongUser(HttpUser):
    """One client posting songs in turn, each with a method drawn by weight."""

    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        offset = random.randrange(len(SONGS)) if SONGS else 0
        self._songs = itertools.islice(itertools.cycle(SONGS), offset, None)
        self._methods = [m for m, _ in METHODS]
        self._weights = [w for _, w in METHODS]

    @task
    def align(self) -> None:
        song = next(self._songs)
        method = random.choices(self._methods, self._weights)[0]
        files = {"audio": (song.name, song.audio, song.media_type)}
        data = {"lyrics": song.lyrics}
        if method:
            data["method"] = method
        options = self.environment.parsed_options
        if options is not None and options.language:
            data["language"] = options.language
        label = method or "default"
        name = f"/align [{label}]" if len(SONGS) == 1 else f"/align [{label}, {song.length_class}]"
        with self.client.post("/align", files=files, data=data, name=name, catch_response=True) as r:
            if r.status_code == 503:
                r.failure(f"shed (Retry-After {r.headers.get('retry-after')})")
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
            elif len(r.json()["words"]) != song.words:
                r.failure(f"wrong number of words for {song.name}")
