"""The shape of the house (DESIGN.md): data flows down the folders, imports only point down.

Measured from the code's own import statements (every ``import``, also inside functions and under
``TYPE_CHECKING``), so ``pytest tests/test_layout.py`` is the check anyone can run:

- no import cycle between modules of ``app/``, ``schedules/`` and ``bench/``;
- no cycle between *places* either (a subpackage of ``schedules/`` or a module directly in it, an app
  page, a bench script): an import from a lower place up to a higher one is a cycle at that level;
- the documented flow holds: ``schedules/design/`` imports nothing else of the studio and no torch,
  ``schedules/command.py`` nothing at all, ``schedules/build.py`` only the design, ``schedules/``
  never ``app`` or ``bench`` or streamlit, ``app/`` never ``bench``;
- no module in ``app/`` or ``schedules/`` over 800 lines, at most 18 modules directly in
  ``schedules/``, a README of at most 300 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "schedules", "bench")
MAX_MODULE_LINES = 800
MAX_TOP_LEVEL_MODULES = 18
MAX_README_LINES = 300


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _known(name: str) -> str | None:
    """The studio module ``name`` is (or is inside), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> tuple[set[str], set[str]]:
    """(studio modules imported, top-level outside packages imported) by ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node.level, node.module)
            # `from pkg import name`: the module pkg.name when there is one, else what pkg's face hands on
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            known = _known(target)
            if known is not None:
                if known != module:
                    inside.add(known)
            elif not (isinstance(node, ast.ImportFrom) and node.level):
                outside.add(target.split(".")[0])
    return inside, outside


GRAPH: dict[str, set[str]] = {}
OUTSIDE: dict[str, set[str]] = {}
for _name, _path in MODULES.items():
    GRAPH[_name], OUTSIDE[_name] = _imports(_name, _path)


def place(module: str) -> str:
    """The room a module belongs to: a subpackage of schedules/ (or app/views/), else the module."""
    parts = module.split(".")
    if parts[0] == "schedules" and len(parts) > 2:
        return ".".join(parts[:2])
    if parts[0] == "schedules" and len(parts) == 2 and (ROOT / "schedules" / parts[1]).is_dir():
        return module
    if parts[:2] == ["app", "views"] and len(parts) > 3:
        return ".".join(parts[:3])
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _edges_within(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    members = set(component)
    return [f"{a} -> {b}" for a in sorted(members) for b in sorted(graph[a] & members)]


def test_no_import_cycle_between_modules():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(", ".join(_edges_within(c, GRAPH)) for c in cycles)


def test_no_import_runs_back_up_between_places():
    places: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if place(target) != place(module):
                places[place(module)].add(place(target))
    for name in {place(m) for m in GRAPH}:
        places.setdefault(name, set())
    cycles = _cycles(places)
    detail = []
    for component in cycles:
        members = set(component)
        detail.append(
            ", ".join(
                f"{a} -> {b}"
                for a in sorted(GRAPH)
                for b in sorted(GRAPH[a])
                if place(a) in members and place(b) in members and place(a) != place(b)
            )
        )
    assert not cycles, "places importing each other: " + "; ".join(detail)


def _studio_imports(prefix: str) -> dict[str, set[str]]:
    return {m: targets for m, targets in GRAPH.items() if m == prefix or m.startswith(prefix + ".")}


def test_the_design_is_data_at_the_bottom():
    for module, targets in _studio_imports("schedules.design").items():
        others = {t for t in targets if not t.startswith("schedules.design")}
        assert not others, (
            f"{module} imports {sorted(others)}: schedules/design/ imports nothing else of the studio"
        )
        assert "torch" not in OUTSIDE[module], (
            f"{module} imports torch: schedules/design/ is the design as data"
        )
    assert not GRAPH["schedules.command"], "schedules/command.py is the ground of every command module"
    build = {t for t in GRAPH["schedules.build"] if not t.startswith("schedules.design")}
    assert not build, f"schedules/build.py imports {sorted(build)}: it builds from the design alone"


def test_the_design_imports_without_torch():
    code = (
        "import sys, schedules.design; print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("package", ["schedules", "app"])
def test_lower_layers_never_import_higher_ones(package):
    forbidden = {"schedules": ("app", "bench"), "app": ("bench",)}[package]
    for module, targets in _studio_imports(package).items():
        up = sorted(t for t in targets if t.split(".")[0] in forbidden)
        assert not up, f"{module} imports {up}"
    if package == "schedules":
        for module, names in OUTSIDE.items():
            if module.startswith("schedules"):
                assert "streamlit" not in names, (
                    f"{module} imports streamlit: the app is a thin UI over schedules/"
                )


def test_module_sizes_and_counts():
    long = {
        str(path.relative_to(ROOT)): n
        for module, path in MODULES.items()
        if module.split(".")[0] in ("app", "schedules")
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
    top = sorted(p.name for p in (ROOT / "schedules").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules directly in schedules/: {top}"
    readme = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert readme <= MAX_README_LINES, (
        f"README.md has {readme} lines (at most {MAX_README_LINES}; the rest in docs/)"
    )


def test_the_checker_finds_a_cycle():
    """The cycle finder itself: a planted circle and a planted back-up import are found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_public_name_of_the_face_resolves():
    import schedules

    assert sorted(schedules.__all__) == sorted(schedules._HOME)
    for name in schedules.__all__:
        assert getattr(schedules, name) is not None
