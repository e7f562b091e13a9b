"""The codebase keeps one room per concept: small modules, public seams, no import cycles.

These read the source as text (ast), so they are cheap and catch a regression the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "covalue"
MAX_LINES = 600
# Alembic revisions are history: they stay as they were written.
HISTORY = PACKAGE / "store" / "migrations"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if HISTORY in path.parents:
            continue
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``from … import`` names, relative forms included."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _top_level_imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) for imports run when the module loads.

    Imports inside functions are deliberate late bindings (optional extras, heavy libraries) and do not
    make a load-time cycle, so only module-level statements (and those under ``if``/``try``) count.
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: list[tuple[str, list[str], int]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                out.extend((a.name, [], node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                out.append((_resolve(module, node), [a.name for a in node.names], node.lineno))
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _all_imports(module: str) -> list[tuple[str, list[str], int]]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return [
        (_resolve(module, node), [a.name for a in node.names], node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    ]


def test_no_module_is_over_the_size_limit():
    long = {
        str(path.relative_to(SRC)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for module in MODULES:
        for target, names, line in _all_imports(module):
            if not target.startswith("covalue") or target == module:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{MODULES[module].relative_to(SRC)}:{line} imports {private} from {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_at_load_time():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, names, _ in _top_level_imports(module):
            # ``from pkg import sub`` names a submodule: the edge goes to the submodule
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in MODULES and candidate != module:
                    graph[module].add(candidate)
                    if candidate != target:
                        break
    # a package importing its own submodules (re-exports) is not a cycle a reader trips on
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not (t.startswith(module + ".") or module.startswith(t + "."))}

    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_holds(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    body = MODULES[module].read_text(encoding="utf-8").strip()
    if body:
        assert ast.get_docstring(tree), f"{module} has no docstring"


def test_every_data_file_is_shipped_in_the_package():
    """A template, model or static file left out of ``package-data`` works in a checkout (an editable
    install reads the tree) and is missing from a wheel, where pip users would meet it."""
    import tomllib

    with open(SRC.parent / "pyproject.toml", "rb") as f:
        patterns = tomllib.load(f)["tool"]["setuptools"]["package-data"]["covalue"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    data = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert sorted(str(p.relative_to(PACKAGE)) for p in data - shipped) == []
