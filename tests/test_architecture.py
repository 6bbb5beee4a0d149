"""The repository's shape: the import graph (parsed with ``ast``), file and function sizes, a torch-free core.

Rules (docs: the project guide's house rules):

- no import cycle among ``lyricalign`` modules;
- the core (``lyricalign``) imports none of the folders (``service``, ``training``,
  ``data_pipeline``, ``loadtests``), and those three folders do not import each other;
- the folders are installed inside the core's package (``lyricalign.service`` is ``service/``:
  pyproject.toml's package-dir), and that is their only name outside them: no file imports
  ``service...`` (nor runs it with ``-m``), else one process could hold two module objects
  for one file (``isinstance`` and ``except`` then fail). Inside a folder, its own modules are
  imported relatively, because ``bentoml serve``/``bentoml build`` import the folder as ``service``;
- no file over :data:`MAX_FILE_LINES` lines, no function over :data:`MAX_FUNCTION_LINES` (in the
  core, the folders, benchmarks, scripts and tests), except the offenders of today listed below
  with a reason. A new offender fails the test; so does a listed
  one that is no longer an offender (delete its entry): the lists only shrink.

The core also runs without torch: every ``lyricalign`` module is imported, and a tiny alignment
run, in a subprocess where importing torch fails. (The block is an import hook, not
``sys.modules["torch"] = None``: scipy probes ``sys.modules["torch"].Tensor`` when the key exists,
so that form breaks scipy, not lyricalign.)

Every ``import`` statement counts, including those inside functions and under
``if TYPE_CHECKING:`` (a lazy import is still a dependency). Dynamic imports by name
(``importlib.import_module("...")``: the engine registry, the CLI's plugins, the lazy
re-exports of ``lyricalign.evaluation``) are not seen.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = "lyricalign"
#: The repository's folders next to the core, installed as ``lyricalign.<folder>``.
FOLDERS = ("service", "training", "data_pipeline", "loadtests")
#: Folders whose files and functions are checked for size.
SIZED = (CORE, *FOLDERS, "benchmarks", "scripts", "tests")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Files over MAX_FILE_LINES today (path: reason). Only remove entries.
LONG_FILES: dict[str, str] = {}
#: Functions over MAX_FUNCTION_LINES today (path::qualified name: reason). Only remove entries.
LONG_FUNCTIONS: dict[str, str] = {}


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """Installed dotted name -> file, for the core and the folders (``pkg/__init__.py`` is ``pkg``;
    ``service/config.py`` is ``lyricalign.service.config``)."""
    found = {}
    for top in (CORE, *FOLDERS):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts if top == CORE else [CORE, *parts])] = path
    return found


def _resolve(name: str) -> str | None:
    """The longest known module that ``name`` names or lies in (None: not the repository's code)."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """The repository modules that ``module`` imports, anywhere in its file."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(_resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # ``from pkg import submodule`` depends on the submodule
                targets.add(_resolve(f"{base}.{alias.name}") or _resolve(base))
    targets.discard(None)
    targets.discard(module)
    return targets  # type: ignore[return-value]


def import_graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in modules()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _part(module: str) -> str:
    """``lyricalign`` for a core module, else its folder (``lyricalign.service.config`` -> ``service``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == CORE and parts[1] in FOLDERS else parts[0]


def test_the_graph_sees_lazy_relative_and_type_checking_imports():
    graph = import_graph()
    assert "lyricalign.exit_codes" in graph["lyricalign.cli"]  # top-level relative import
    assert "lyricalign.plots" in graph["lyricalign.evaluation.runner"]  # inside a function
    assert "lyricalign.engines.base" in graph["lyricalign.evaluation.runner"]  # under TYPE_CHECKING
    assert "lyricalign.align.ctc_viterbi" in graph["lyricalign.engines.ctc"]  # ``from ..align.ctc_viterbi import ...``
    assert "lyricalign.exit_codes" in graph["lyricalign.data_pipeline.cli"]  # absolute import from a folder
    assert "lyricalign.data_pipeline.dali" in graph["lyricalign.data_pipeline.synth.melody"]  # ``from ..dali``
    assert _part("lyricalign.service.config") == "service" and _part("lyricalign.engines.hmm") == CORE
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_the_core():
    graph = {m: {t for t in targets if _part(t) == CORE} for m, targets in import_graph().items() if _part(m) == CORE}
    assert cycles(graph) == []


def test_the_core_imports_no_folder_and_folders_not_each_other():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets):
            source, dest = _part(module), _part(target)
            if source == CORE and dest in FOLDERS:
                wrong.append(f"{module} -> {target} (the core imports a folder)")
            elif source in FOLDERS[:3] and dest in FOLDERS[:3] and source != dest:
                wrong.append(f"{module} -> {target} (a folder imports another)")
    assert wrong == []


#: Where the repository's code names modules: every Python file, the shell scripts and the docs.
NAMING = ("lyricalign", *FOLDERS, "benchmarks", "scripts", "tests", "docs")
_BARE = "|".join(FOLDERS)
#: A folder by its bare name in code inside strings or docs: ``python -m service.x``, ``from training.x import``.
BARE_IN_TEXT = re.compile(rf"-m\s+({_BARE})\b|\bfrom\s+({_BARE})(\.\w+)*\s+import\b|^\s*import\s+({_BARE})\b", re.M)
#: A string that is a bare folder module after ``-m`` in an argument list.
BARE_MODULE = re.compile(rf"({_BARE})(\.\w+)*")


def _naming_files() -> list[Path]:
    files = [REPO / "README.md", *sorted(p for top in NAMING for p in (REPO / top).rglob("*") if p.is_file())]
    return [p for p in files if p.suffix in (".py", ".sh", ".md") and "__pycache__" not in p.parts]


def _bare_names_in_python(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FOLDERS]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in FOLDERS:
            found.append(f"from {node.module}")
        elif isinstance(node, ast.List):  # [sys.executable, "-m", "service.grpc_server", ...]
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            found += [f"-m {b}" for a, b in zip(items, items[1:])
                      if a == "-m" and isinstance(b, str) and BARE_MODULE.fullmatch(b)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and BARE_IN_TEXT.search(node.value):
            found.append(BARE_IN_TEXT.search(node.value).group(0).strip())
    return found


def test_folders_are_named_by_their_installed_names_only():
    """``lyricalign.service...`` everywhere (imports, ``-m`` commands, code in strings and docs); the one
    bare name is bentoml's ``service.service:LyricAlign`` (bentofile.yaml, ``bentoml serve`` commands)."""
    wrong = []
    for path in _naming_files():
        rel = path.relative_to(REPO)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            wrong += [f"{rel}: {name}" for name in _bare_names_in_python(ast.parse(text, str(path)))]
        else:
            wrong += [f"{rel}: {m.group(0).strip()}" for m in BARE_IN_TEXT.finditer(text)]
    assert wrong == [], "use lyricalign.<folder>...: " + "; ".join(wrong)


def test_folders_import_their_own_modules_relatively():
    """``bentoml serve service.service:LyricAlign`` imports ``service/`` as ``service``: an absolute
    ``lyricalign.service.x`` inside it would load ``x`` a second time under another name."""
    wrong = []
    for path in sorted(p for f in FOLDERS for p in (REPO / f).rglob("*.py")):
        folder = path.relative_to(REPO).parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            wrong += [f"{path.relative_to(REPO)}: {n}" for n in names if _part(n) == folder and n.startswith(CORE)]
    assert wrong == []


def _sized_files() -> list[Path]:
    return sorted(p for top in SIZED for p in (REPO / top).rglob("*.py"))


def _functions(tree: ast.AST, prefix: str = ""):
    """``(qualified name, lines)`` of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{name}.")


def test_no_new_long_files_and_the_allow_list_is_current():
    long_files = {
        str(p.relative_to(REPO)): n for p in _sized_files() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert sorted(set(long_files) - set(LONG_FILES)) == [], f"new files over {MAX_FILE_LINES} lines: {long_files}"
    assert sorted(set(LONG_FILES) - set(long_files)) == [], "no longer too long: remove from LONG_FILES"


def test_no_new_long_functions_and_the_allow_list_is_current():
    long_functions = {}
    for path in _sized_files():
        rel = str(path.relative_to(REPO))
        for name, lines in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            if lines > MAX_FUNCTION_LINES:
                long_functions[f"{rel}::{name}"] = lines
    assert sorted(set(long_functions) - set(LONG_FUNCTIONS)) == [], f"new functions over {MAX_FUNCTION_LINES} lines: {long_functions}"
    assert sorted(set(LONG_FUNCTIONS) - set(long_functions)) == [], "no longer too long: remove from LONG_FUNCTIONS"


TORCH_FREE_SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())  # any "import torch" now raises ImportError
    import numpy as np
    import lyricalign
    folders = tuple(f"lyricalign.{f}" for f in FOLDERS)  # installed from a wheel they lie inside lyricalign/
    names = sorted(m.name for m in pkgutil.walk_packages(lyricalign.__path__, "lyricalign.")
                   if not (m.name in folders or m.name.startswith(tuple(f + "." for f in folders))))
    for name in names:
        importlib.import_module(name)
    from lyricalign.api import AlignOptions, align
    t = np.arange(3 * 16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.5)).astype(np.float32)
    result = align(audio, "la la la", AlignOptions(method="uniform"))
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    print(json.dumps({"modules": names, "words": [[w.text, w.start, w.end] for w in result.words]}))
    """
)


def test_every_core_module_imports_and_aligns_without_torch():
    proc = subprocess.run(
        [sys.executable, "-c", f"FOLDERS = {FOLDERS!r}\n" + TORCH_FREE_SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    expected = {m for m in modules() if _part(m) == CORE and m != CORE}
    if importlib.util.find_spec("lyricalign._kernels") is not None:
        expected.add("lyricalign._kernels")  # the compiled kernels (lyricalign/_kernels.c), when built
    assert set(out["modules"]) == expected
    words = out["words"]
    assert [w[0] for w in words] == ["la", "la", "la"]
    assert all(0.0 <= w[1] < w[2] <= 3.0 for w in words) and words[0][2] <= words[1][1] <= words[2][1]
