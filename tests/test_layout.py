"""House rules that keep the architecture honest (DESIGN.md §2).

The import graph here is file-level and complete: imports at module level, inside functions and
under `if TYPE_CHECKING:` all count (a deferred or type-only import hides a circle, it does not
remove it), `from pkg import mod` is an edge to pkg/mod.py when that file exists, and relative
imports are resolved.
"""

from __future__ import annotations

import ast
from collections import deque
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_FOR_ENGINE = {"aiohttp", "aiortc", "av", "api", "streaming", "signaling", "storage", "events", "asyncio"}

# The server's layers, top to bottom; doors/ joins when it exists (DESIGN §2).
SERVER = ("facestream", "api", "signaling", "streaming", "doors", "sessions", "events", "storage", "recognition",
          "engine")
# Every package of ours whose files the import graph covers.
PACKAGES = (*SERVER, "bench", "testkit", "tests")


def _imports(path: Path) -> set[str]:
    """First components of the absolute imports of a file (outside libraries included)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages that exist under root."""
    files: dict[str, Path] = {}
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """module -> the modules of ours it imports (file level)."""
    files = _module_files(root, packages)

    def resolve(name: str) -> str | None:  # the deepest of our modules a dotted name names
        parts = name.split(".")
        while parts:
            if ".".join(parts) in files:
                return ".".join(parts)
            parts.pop()
        return None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(r for alias in node.names if (r := resolve(alias.name)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    target = resolve(f"{source}.{alias.name}")  # `from pkg import mod`: the module itself
                    if target != f"{source}.{alias.name}":
                        target = resolve(source)
                    if target:
                        deps.add(target)
        deps.discard(module)
        graph[module] = deps
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest import circle per strongly connected group of modules, as a path a -> ... -> a
    (the group's other members follow the path in `describe`)."""
    reach = {m: _reach(graph, m) for m in graph}
    done: set[str] = set()
    found = []
    for module in sorted(graph):
        if module in done:
            continue
        group = {m for m in reach[module] if module in reach[m]}
        done |= group
        if len(group) < 2:
            continue
        back: dict[str, str] = {}
        queue = deque([module])
        while queue:  # breadth first inside the group: the shortest way back to `module`
            current = queue.popleft()
            if module in graph[current]:
                path = [module]
                while current != module:
                    path.append(current)
                    current = back[current]
                found.append([module, *reversed(path[1:]), module])
                break
            for nxt in sorted(graph[current] & group):
                if nxt not in back and nxt != module:
                    back[nxt] = current
                    queue.append(nxt)
    return found


def describe(graph: dict[str, set[str]], circle: list[str]) -> str:
    group = sorted(m for m in _reach(graph, circle[0]) if circle[0] in _reach(graph, m))
    return f"{' -> '.join(circle)} (circle of {len(group)} files: {', '.join(group)})"


def test_the_import_graph_resolves_submodules_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a circle made of `from pkg import mod`, a relative import and a
    deferred one is found with its path; an import of a name (not a module) is an edge to the
    package's __init__."""
    pkg = tmp_path / "storage"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VERSION = 1\n")
    (pkg / "schema.py").write_text("from storage import tables\n")
    (pkg / "tables.py").write_text("from . import runner\nfrom storage import VERSION\n")
    (pkg / "runner.py").write_text("def run():\n    from .schema import x\n")
    (pkg / "leaf.py").write_text("import storage.tables\n")
    graph = import_graph(tmp_path, ("storage",))
    assert graph["storage.tables"] == {"storage.runner", "storage"}
    assert graph["storage.leaf"] == {"storage.tables"}
    assert cycles(graph) == [["storage.runner", "storage.schema", "storage.tables", "storage.runner"]]
    assert describe(graph, cycles(graph)[0]).endswith(
        "(circle of 3 files: storage.runner, storage.schema, storage.tables)")


def test_no_import_cycles() -> None:
    """DESIGN §2: a cycle, even between two files of one package, is a design bug."""
    graph = import_graph(ROOT)
    assert {"storage.migrations", "api.errors", "bench.stream"} <= graph.keys()  # the graph covers our packages
    assert [describe(graph, c) for c in cycles(graph)] == []


def test_engine_imports_nothing_from_outer_layers() -> None:
    files = sorted((ROOT / "engine").glob("*.py"))
    assert files
    offenders = {f.name: sorted(_imports(f) & FORBIDDEN_FOR_ENGINE) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_storage_never_imports_api() -> None:
    for f in (ROOT / "storage").glob("*.py"):
        assert "api" not in _imports(f), f.name


def test_only_the_headless_opencv_is_installed() -> None:
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    assert "opencv-python-headless" in installed
    assert not installed & {"opencv-python", "opencv-contrib-python"}


# DESIGN §2: who may import whom among our own packages (an arrow means "may import"), and which
# outside libraries a layer must never touch (HTTP and media stay out of the transport-neutral core).
# facestream/ (settings and the command line) sits on top: it may import every server layer and
# only api/ imports it back (the config it is created with, the version). bench/ may import anything
# but tests/; testkit/ (what tests and bench share) any server layer.
ALLOWED = {
    "engine": set(),
    "recognition": {"engine"},
    "storage": {"engine"},
    "events": {"storage"},
    "sessions": {"recognition", "storage", "events", "engine"},
    "doors": {"sessions", "storage", "events", "engine"},
    "streaming": {"doors", "sessions", "recognition", "engine"},
    "signaling": {"streaming"},
    "api": {"signaling", "streaming", "doors", "sessions", "events", "storage", "recognition", "engine", "facestream"},
    "facestream": set(SERVER),
    "testkit": set(SERVER),
    "bench": {*SERVER, "testkit"},
}
FORBIDDEN_LIBRARIES = {
    "engine": {"aiohttp", "aiortc", "av", "asyncio"},
    "recognition": {"aiohttp", "aiortc", "av", "asyncio"},
    "sessions": {"aiohttp", "aiortc", "av"},
    "doors": {"aiohttp", "aiortc", "av"},
    "storage": {"aiohttp", "aiortc", "av"},
    "streaming": {"aiohttp"},
}


def test_layers_import_only_what_design_allows() -> None:
    graph, files = import_graph(ROOT), _module_files(ROOT, PACKAGES)
    offenders = {}
    for module, deps in sorted(graph.items()):
        layer = module.split(".")[0]
        if layer not in ALLOWED:
            continue
        ours = {d.split(".")[0] for d in deps} - {layer}
        libraries = _imports(files[module]) & FORBIDDEN_LIBRARIES.get(layer, set())
        bad = sorted((ours - ALLOWED[layer]) | libraries)
        if bad:
            offenders[module] = bad
    assert offenders == {}


def test_nothing_imports_tests_and_recognition_exists() -> None:
    """Neither the server nor bench/ nor testkit/ imports tests/ (bench's shared sources live in
    testkit/); the server imports neither bench/ nor testkit/."""
    assert sorted(p.name for p in (ROOT / "recognition").glob("*.py"))  # the core is a real package
    graph = import_graph(ROOT)
    into_tests = sorted(f"{m} -> {d}" for m, deps in graph.items() if not m.startswith("tests")
                        for d in deps if d.split(".")[0] == "tests")
    assert into_tests == []
    server_into_tools = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.split(".")[0] in SERVER
                               for d in deps if d.split(".")[0] in {"bench", "testkit"})
    assert server_into_tools == []
    assert any(d.startswith("testkit") for m, deps in graph.items() if m.startswith("bench") for d in deps)
