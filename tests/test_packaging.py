"""What ``pip install`` puts in site-packages: one top-level package, ``lyricalign``.

The repository's folders ``service/``, ``training/``, ``data_pipeline/`` and ``loadtests/`` are installed
inside it (``lyricalign.service`` ...: pyproject.toml's ``package-dir``), so they cannot collide with
another distribution's ``service`` or ``training``. Checked three ways: the package list in
pyproject.toml against the folders on disk (a new subpackage left out of the list would silently be
missing from the wheel), the installed distribution this suite runs against, and a real wheel built
from a copy of the sources, imported from outside the repository.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
CORE = "lyricalign"
FOLDERS = ("service", "training", "data_pipeline", "loadtests")


def _packages_on_disk() -> set[str]:
    """Installed names of every package folder (one with ``__init__.py``) of the core and the folders."""
    names = set()
    for top in (CORE, *FOLDERS):
        for init in (REPO / top).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO).parts
            names.add(".".join(parts if top == CORE else (CORE, *parts)))
    return names


def test_pyproject_installs_every_folder_inside_lyricalign():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "packages" in config and isinstance(config["packages"], list), "packages must be listed explicitly"
    assert sorted(config["packages"]) == sorted(_packages_on_disk())
    assert config["package-dir"] == {f"{CORE}.{f}": f for f in FOLDERS}


def test_the_installed_distribution_has_one_top_level_package_from_this_checkout():
    """The environment's install (``pip install -e .``) matches this checkout: re-run it after a pull."""
    top_level = importlib.metadata.distribution(CORE).read_text("top_level.txt")
    assert top_level is not None and top_level.split() == [CORE], \
        f"top_level.txt: {top_level!r}; reinstall: pip install --no-deps -e {REPO}"
    for folder in FOLDERS:
        spec = importlib.util.find_spec(f"{CORE}.{folder}")
        assert spec is not None and Path(spec.origin) == REPO / folder / "__init__.py", (folder, spec)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built by setuptools from a clean copy of the sources (no stale ``build/`` can leak in)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (CORE, *FOLDERS):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    code = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(work / "dist")], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / "dist" / proc.stdout.split()[-1]


@pytest.mark.slow
def test_the_wheel_holds_only_lyricalign(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        top_level = zf.read(f"{dist_info}/top_level.txt").decode().split()
    assert top_level == [CORE]
    assert sorted({n.split("/")[0] for n in names}) == [CORE, dist_info]
    for folder in FOLDERS:  # every module of every folder, under lyricalign/<folder>/
        expected = {f"{CORE}/{p.relative_to(REPO).as_posix()}" for p in (REPO / folder).rglob("*.py")
                    if "__pycache__" not in p.parts}
        assert expected and expected <= set(names), sorted(expected - set(names))


@pytest.mark.slow
def test_the_installed_wheel_imports_its_folders_and_the_cli_finds_them(wheel: Path, tmp_path: Path):
    """The wheel unpacked as a site-packages folder, first on ``sys.path``, run outside the repository."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "import importlib, importlib.util, json, sys\n"
        "mods = [importlib.import_module(m) for m in ('lyricalign.service.config', 'lyricalign.training.register',"
        " 'lyricalign.data_pipeline.cli', 'lyricalign.loadtests.load_songs')]\n"
        "from lyricalign.cli import build_parser\n"
        "sub = next(a for a in build_parser()._actions if a.dest == 'command')\n"
        "bare = {n: importlib.util.find_spec(n) is not None for n in ('service', 'training', 'data_pipeline', 'loadtests')}\n"
        "print(json.dumps({'files': [m.__file__ for m in mods], 'commands': sorted(sub.choices), 'bare': bare}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    out = json.loads(proc.stdout.splitlines()[-1])
    assert all(Path(f).is_relative_to(site / CORE) for f in out["files"]), out["files"]
    assert {"align", "data", "evaluate", "export", "models", "train"} <= set(out["commands"]), out["commands"]
    assert out["bare"] == dict.fromkeys(FOLDERS, False)  # nothing installs a top-level "service"
