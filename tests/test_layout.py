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
