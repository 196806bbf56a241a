"""lsfix's modules import in any order and their import graph has no cycle.

The dynamic test imports every module in a fresh interpreter, each one first and then all the others (and
all of them in sorted and reverse order), so a cycle that only bites from one entry point is caught. The
static test reads every `from .x import` / `from lsfix.x import` / `import lsfix.x`, also those inside
functions (lazy imports) and under `TYPE_CHECKING`, and fails on any cycle, naming it.
"""
import ast, subprocess, sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lsfix"
MODULES = sorted(p.stem for p in PKG.glob("*.py") if not p.stem.startswith("_"))


def imported_modules(source:str) -> set[str]:
    "The lsfix modules a module's source imports, anywhere in the file (top level, functions, TYPE_CHECKING blocks)."
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: out.add(node.module.split(".")[0])                   # from .x import y
            elif node.level == 1: out.update(a.name for a in node.names)                            # from . import x
            elif node.level == 0 and node.module and node.module.startswith("lsfix."): out.add(node.module.split(".")[1])
            elif node.level == 0 and node.module == "lsfix": out.update(a.name for a in node.names)  # from lsfix import x
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lsfix."))
    return out


def import_graph() -> dict[str, set[str]]:
    "Module -> the lsfix modules it imports (only real modules: `__version__` and the like are not edges)."
    graph = {m: imported_modules((PKG / f"{m}.py").read_text()) for m in MODULES}
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def find_cycle(graph:dict[str, set[str]]) -> list[str]|None:
    "One cycle of `graph` as a path [a, b, ..., a], or None (depth-first search with colours)."
    state, stack = {}, []
    def visit(m):
        state[m] = "open"; stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open": return stack[stack.index(d):] + [d]
            if d not in state and (cycle := visit(d)): return cycle
        state[m] = "done"; stack.pop()
        return None
    for m in sorted(graph):
        if m not in state and (cycle := visit(m)): return cycle
    return None


def test_parser_and_cycle_finder_catch_lazy_imports():
    src = "from .core import a\nimport lsfix.data\ndef f():\n    from lsfix.train import b\n    from . import plots\nfrom lsfix import selective\n"
    assert imported_modules(src) == {"core", "data", "train", "plots", "selective"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"train": {"segmentation"}, "segmentation": {"core", "train"}, "core": set()}) == ["segmentation", "train", "segmentation"]


def test_static_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) >= 15 and graph["logits"] <= {"core", "distributed"}  # the logits file's owner sits at the bottom
    assert graph["canvas"] <= {"core"} and "canvas" in graph["data"], (graph["canvas"], graph["data"])  # data builds on canvas, never back
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def _import_in_fresh_interpreter(order:list[str]) -> subprocess.CompletedProcess:
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module('lsfix.' + m)\n"
    return subprocess.run([sys.executable, "-c", code, *order], capture_output=True, text=True, cwd=PKG.parent, timeout=600)


@pytest.mark.parametrize("first", MODULES)
def test_each_module_imports_first(first):
    r = _import_in_fresh_interpreter([first] + [m for m in MODULES if m != first])
    assert r.returncode == 0, f"importing lsfix.{first} first failed:\n{r.stderr[-3000:]}"


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_all_modules_import_in_order(order):
    r = _import_in_fresh_interpreter(MODULES if order == "sorted" else MODULES[::-1])
    assert r.returncode == 0, r.stderr[-3000:]
