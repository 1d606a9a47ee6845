"""The layering that the architecture section describes, checked on the source itself.

- no module imports a private name (``_x``, or a private module ``_m``) owned by another
  package: private means private to the package that holds it;
- the packages of ``bayesimpute`` form no import circle (the layer below, ``design``,
  imports no method and nothing of the engine; the methods import nothing of the engine).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesimpute"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
IS_PACKAGE = {name: path.name == "__init__.py" for name, path in MODULES.items()}


def imports(path: Path):
    """(imported module, imported name or None, line) for every import of the package."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno


def owner(module: str, name: str | None) -> tuple[str, bool]:
    """The package that owns the imported thing, and whether the thing is private."""
    target = f"{module}.{name}" if name and f"{module}.{name}" in MODULES else module
    leaf_private = any(part.startswith("_") and part != "__init__" for part in
                       target.split(".")[1:])
    name_private = bool(name) and target == module and name.startswith("_")
    if target in MODULES:
        return package_of(target, IS_PACKAGE[target]), leaf_private or name_private
    return module, name_private


def private_imports_across_packages() -> list[str]:
    found = []
    for importer, path in MODULES.items():
        here = package_of(importer, IS_PACKAGE[importer])
        for module, name, line in imports(path):
            if not module.startswith("bayesimpute"):
                continue
            home, private = owner(module, name)
            if private and here != home:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports "
                             f"{module}{'.' + name if name else ''} (private to {home})")
    return found


def unit(module: str) -> str:
    """The top-level package or module of ``bayesimpute`` that ``module`` belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for importer, path in MODULES.items():
        if importer == "bayesimpute":
            continue  # the public namespace gathers everything by design
        source = unit(importer)
        for module, _, _ in imports(path):
            if module.startswith("bayesimpute.") and unit(module) != source:
                graph.setdefault(source, set()).add(unit(module))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_private_name_is_imported_across_packages():
    assert private_imports_across_packages() == []


def test_packages_form_no_import_circle():
    assert find_cycle(package_graph()) is None


@pytest.mark.parametrize("layer, forbidden", [
    ("bayesimpute.design", {"bayesimpute.methods", "bayesimpute.engine", "bayesimpute.analysis"}),
    ("bayesimpute.methods", {"bayesimpute.engine", "bayesimpute.results", "bayesimpute.api"}),
])
def test_lower_layers_do_not_import_upper_ones(layer, forbidden):
    assert package_graph().get(layer, set()) & forbidden == set()


def test_the_checks_can_fail():
    """The checks see a private import and a circle when there is one."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert owner("bayesimpute.exploration", "_is_numeric") == ("bayesimpute", True)
    assert owner("bayesimpute.methods.base", "_private_helper") == ("bayesimpute.methods", True)
