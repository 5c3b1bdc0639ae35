"""The package's shape: imports point one way (command line → benchmarks → sweep → serving → report → training →
parts → names), no cycles, each package used through its `__init__`, no module over 250 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import PROJECT

PACKAGE = PROJECT / "freeze_study"
# Lower layers never import higher ones; modules of one layer do not import each other across concerns.
LAYERS = {
    "names": 0,
    "text": 0,
    "levels": 1,  # what freeze level K freezes and is called: pure, so the report names levels without torch
    "errors": 1,
    "config": 2,
    "scratch": 2,  # names of temporary files, used by cache, training and sweep
    "data": 3,
    "model": 3,
    "tracking": 3,
    "cache": 4,
    "training": 5,
    "report": 6,
    "serve": 7,  # registers the report's choice
    "sweep": 8,  # owns what happens when a sweep ends: its report and its registration
    "bench": 9,  # benchmarks whole sweeps
    "cli": 10,  # one small module per command group, and how a failure exits (`cli.exits`)
    "__main__": 11,
}


MAX_LINES = 250  # a module over about 200 lines is doing two jobs; past this one, split it
# Imports of a module of another package that do not go through that package's `__init__` (its `__all__`), and
# why they may: (importing module, imported module) -> reason. None today.
SIDE_DOORS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("freeze_study"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports(path, modules) for name, path in modules.items()}


def concern(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            if cycle := visit(nxt, path + [node]):
                return cycle
        done.add(node)
        return None

    return next((c for c in (visit(n, []) for n in sorted(edges)) if c), None)


def offered() -> dict[str, set[str]]:
    """Each package of freeze_study and the names its `__init__` offers (its `__all__`)."""
    doors = {}
    for init in PACKAGE.glob("*/__init__.py"):
        names = [
            ast.literal_eval(node.value)
            for node in ast.parse(init.read_text()).body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
        ]
        doors[f"freeze_study.{init.parent.name}"] = set(names[0]) if names else set()
    return doors


def side_doors(module: str, path: Path, doors: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(module, imported) for each import in `path` that reaches another package past its `__init__`'s `__all__`."""
    own = ".".join(module.split(".")[:2])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [(node.module, a.name) for a in node.names]
        else:
            continue
        for imported, name in targets:
            door = ".".join(imported.split(".")[:2])
            if door in doors and door != own and (imported != door or (name and name not in doors[door])):
                found.add((module, imported if imported != door else f"{door}.{name}"))
    return found


def test_no_import_cycle():
    assert find_cycle(graph()) is None


def test_imports_point_one_way():
    edges = graph()
    assert set(map(concern, edges)) - {""} == set(LAYERS), "every module belongs to a layer"
    wrong = [
        f"{src} imports {dst}"
        for src, dsts in edges.items()
        for dst in dsts
        if concern(src)
        and concern(dst)
        and concern(src) != concern(dst)
        and LAYERS[concern(src)] <= LAYERS[concern(dst)]
    ]
    assert not wrong


def test_packages_are_used_through_their_init():
    """A module imports another package only through the names its `__init__` offers (`__all__`)."""
    doors = offered()
    found = set().union(*(side_doors(name, path, doors) for name, path in package_modules().items()))
    assert found <= set(SIDE_DOORS), sorted(found - set(SIDE_DOORS))
    assert set(SIDE_DOORS) <= found, "an exception that is no longer needed"


def test_no_module_is_over_250_lines():
    lines = {name: len(path.read_text().splitlines()) for name, path in package_modules().items()}
    assert {name: n for name, n in lines.items() if n > MAX_LINES} == {}
    assert max(lines.values()) > 100, "the files are read"


def test_the_checks_can_fail(tmp_path):
    """The cycle check sees a cycle through function-level imports; the door check sees a reach past `__init__`."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from freeze_study.b import g\n")
    b.write_text("import freeze_study.a\n")
    modules = {"freeze_study.a": a, "freeze_study.b": b}
    edges = {name: imports(path, modules) for name, path in modules.items()}
    assert edges == {"freeze_study.a": {"freeze_study.b"}, "freeze_study.b": {"freeze_study.a"}}
    assert find_cycle(edges) == ["freeze_study.a", "freeze_study.b", "freeze_study.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
    c = tmp_path / "c.py"
    c.write_text(
        "from freeze_study.cache import Store\nfrom freeze_study.report.store import load_sweep\n"
        "import freeze_study.names as N\nfrom freeze_study.sweep.worker import work\n"
        "def f():\n    from freeze_study.data import walk\n    import freeze_study.model.freezing\n"
    )
    doors = {"freeze_study.cache": {"Store"}, "freeze_study.report": {"load_sweep"}, "freeze_study.data": set()}
    doors |= {"freeze_study.sweep": set(), "freeze_study.model": set()}
    assert side_doors("freeze_study.sweep.c", c, doors) == {
        ("freeze_study.sweep.c", "freeze_study.report.store"),
        ("freeze_study.sweep.c", "freeze_study.data.walk"),
        ("freeze_study.sweep.c", "freeze_study.model.freezing"),
    }


def test_every_module_says_what_it_is_for():
    missing = [name for name, path in package_modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert not missing


def test_names_is_pure_and_spells_the_statuses_as_mlflow_does():
    """names.py imports only the standard library; its run statuses are MLflow's own spelling."""
    from mlflow.entities import RunStatus

    import freeze_study.names as N

    tree = ast.parse((PACKAGE / "names.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "re"}
    assert [N.FINISHED, N.RUNNING, N.FAILED, N.KILLED] == [
        RunStatus.to_string(s) for s in (RunStatus.FINISHED, RunStatus.RUNNING, RunStatus.FAILED, RunStatus.KILLED)
    ]
