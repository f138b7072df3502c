"""The house's floors, read from the code's own imports (every import, lazy ones in functions too):
no package imports one above it, and no modules import each other in a circle (a package's ``__init__``
only hands names on, so it is no link of a circle, as in ``farm-studio look``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ("srole_common", "srole_env", "shields", "agents", "references", "emulation", "study", "srole_cli",
          "scripts", "examples")
"""From the ground up: a package may import its own floor and those below it, never one above."""
ROOMS = {
    "agents": ("agents.common", "agents.baselines", "agents.learners", "agents.harness"),
    "study": ("study.experiments", "study.analysis", "study.benchmark", "study"),
}
"""Floors inside a floor, from the ground up (rooms in one tuple share a floor and must not import each other):
learners and baselines never import the harness; a learner may build on a baseline (the head's warm start imitates
the greedy head), a baseline never on a learner; the experiments never import the analysis."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    files = {_module_name(p): p for floor in FLOORS for p in (ROOT / floor).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def _room(module: str, rooms: tuple) -> tuple[int, str] | None:
    """(floor, room) of ``module`` among ``rooms`` (the longest matching prefix), or None."""
    best = None
    for i, floor in enumerate(rooms):
        for room in floor if isinstance(floor, tuple) else (floor,):
            if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best[1])):
                best = (i, room)
    return best


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` for every import from a lower floor into a higher one, between packages and
    between the rooms inside one (``ROOMS``)."""
    rank = {floor: i for i, floor in enumerate(FLOORS)}
    found = set()
    for a, targets in graph.items():
        for b in targets:
            top_a, top_b = a.split(".")[0], b.split(".")[0]
            if rank[top_b] > rank[top_a]:
                found.add(f"{a} -> {b}")
            elif top_a == top_b and top_a in ROOMS:
                ra, rb = _room(a, ROOMS[top_a]), _room(b, ROOMS[top_a])
                if ra and rb and ra[1] != rb[1] and rb[0] >= ra[0]:
                    found.add(f"{a} -> {b}")
    return sorted(found)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_package_imports_a_floor_above_it():
    assert upward_imports(_graph()) == []


def test_no_import_circle_between_modules():
    graph = _graph()
    faces = {name for name in graph if (ROOT / name.replace(".", "/") / "__init__.py").is_file()}
    modules = {name: targets - faces for name, targets in graph.items() if name not in faces}
    assert circles(modules) == []


def test_the_checks_can_fail():
    graph = {"srole_env.a": {"agents.b"}, "agents.b": {"srole_env.a"}}
    assert upward_imports(graph) == ["srole_env.a -> agents.b"]
    assert circles(graph) == [["agents.b", "srole_env.a"]]
    inside = {"study.experiments.a": {"study.analysis.b"}, "agents.baselines.d": {"agents.learners.c"},
              "agents.learners.c": {"agents.baselines.f"}, "agents.harness.e": {"agents.learners.c"}}
    assert upward_imports(inside) == ["agents.baselines.d -> agents.learners.c",
                                      "study.experiments.a -> study.analysis.b"]


def test_the_env_layer_is_read():
    graph = _graph()
    assert "agents.common.utils" in graph["agents.harness.evaluate"]
    assert "study.experiments.emulation_profile" in graph["srole_cli.reproduce_cmd"]
