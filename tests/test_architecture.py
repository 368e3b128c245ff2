"""The package's shape, checked: no import cycles, no long functions, no private names borrowed
across modules, and table names only through the catalog (issue 17).

Read from the source with ``ast``, so a new violation fails here with its file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "cslake"
MAX_FUNCTION_LINES = 80
# The synthetic generator writes whole returns field by field; its long functions read as the
# DfE specification they follow. Everything else stays under the limit.
LONG_FUNCTIONS_ALLOWED_UNDER = ("synth",)
TABLE_LITERAL = re.compile(r"^(bronze|silver|gold|gold_restricted|quarantine)\.(?!(yaml|yml|json|csv)$)[a-z][a-z0-9_]*$")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported(module: str, node: ast.AST) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for one import statement, resolved to cslake modules."""
    if isinstance(node, ast.Import):
        return [(a.name, []) for a in node.names if a.name.startswith("cslake")]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            if MODULES[module].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            src = ".".join(base + ([node.module] if node.module else []))
        else:
            src = node.module or ""
        if not src.startswith("cslake"):
            return []
        out = []
        names = []
        for a in node.names:
            if f"{src}.{a.name}" in MODULES:  # `from cslake import catalog`: a module
                out.append((f"{src}.{a.name}", []))
            else:
                names.append(a.name)
        if names:
            out.append((src, names))
        return out
    return []


def _imports_of(module: str) -> set[str]:
    """cslake modules ``module`` imports, at module level or inside a function (an import put in a
    function to dodge a cycle is still a cycle), outside ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()
    for node in _tree(MODULES[module]).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for stmt in ast.walk(node):
            for src, _ in _imported(module, stmt):
                if src in MODULES:
                    found.add(src)
    return found - {module}


def _cycles() -> list[list[str]]:
    graph = {m: _imports_of(m) for m in MODULES}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    cycles, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def test_no_import_cycles():
    assert not _cycles(), "\n".join(" -> ".join(c) for c in _cycles())


def test_no_function_over_80_lines_outside_the_generator():
    long = []
    for module, path in MODULES.items():
        if any(part in LONG_FUNCTIONS_ALLOWED_UNDER for part in module.split(".")[1:]):
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(LIB.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "\n".join(long)


def test_no_private_name_imported_from_another_module():
    borrowed = []
    for module, path in MODULES.items():
        for node in ast.walk(_tree(path)):
            for src, names in _imported(module, node):
                for name in names:
                    if name.startswith("_") and src != module:
                        borrowed.append(f"{path.relative_to(LIB.parent)}:{node.lineno} {src}.{name}")
    assert not borrowed, "\n".join(borrowed)


def test_table_names_only_through_the_catalog():
    """A table's name is written once, in conf (or derived from a collection schema): code names
    it through ``cslake.catalog`` so a typo or a renamed table fails where it is used."""
    literals = []
    for module, path in MODULES.items():
        if module == "cslake.catalog":
            continue
        tree = _tree(path)
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if TABLE_LITERAL.match(node.value):
                    literals.append(f"{path.relative_to(LIB.parent)}:{node.lineno} {node.value!r}")
    assert not literals, f"{len(literals)} table names written as literals:\n" + "\n".join(literals)


@pytest.mark.parametrize("snippet, cycle", [
    ({"a": {"b"}, "b": {"a"}}, True),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
])
def test_the_cycle_finder_finds_a_hand_made_cycle(monkeypatch, snippet, cycle):
    graph = {f"cslake.{k}": {f"cslake.{d}" for d in v} for k, v in snippet.items()}
    monkeypatch.setattr(f"{__name__}._imports_of", lambda m: graph[m])
    monkeypatch.setattr(f"{__name__}.MODULES", {m: Path(m) for m in graph})
    assert bool(_cycles()) is cycle
