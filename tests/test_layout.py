"""House rules that keep the architecture honest (DESIGN.md §2)."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_FOR_ENGINE = {"aiohttp", "aiortc", "av", "api", "streaming", "signaling", "storage", "events", "asyncio"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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


# DESIGN §2: who may import whom among our own layers (direct imports), and which outside
# libraries a layer must never touch (HTTP and media stay out of the transport-neutral core).
LAYERS = {"engine", "recognition", "sessions", "doors", "storage", "events", "streaming", "signaling", "api",
          "facestream"}
ALLOWED = {
    "engine": set(),
    "recognition": {"engine"},
    "storage": {"engine"},
    "events": {"storage"},
    "sessions": {"recognition", "storage", "events", "engine"},
    "doors": {"sessions", "storage", "events", "engine"},
    "streaming": {"doors", "sessions", "recognition", "engine"},
    "signaling": {"streaming"},
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
    offenders = {}
    for layer, allowed in ALLOWED.items():
        for f in sorted((ROOT / layer).glob("*.py")):
            ours = (_imports(f) & LAYERS) - {layer}
            bad = sorted((ours - allowed) | (_imports(f) & FORBIDDEN_LIBRARIES.get(layer, set())))
            if bad:
                offenders[f"{layer}/{f.name}"] = bad
    assert offenders == {}


def test_nothing_imports_tests_and_recognition_exists() -> None:
    assert sorted(p.name for p in (ROOT / "recognition").glob("*.py"))  # the core is a real package
    for layer in LAYERS:
        for f in (ROOT / layer).glob("*.py"):
            assert "tests" not in _imports(f), f"{layer}/{f.name}"
