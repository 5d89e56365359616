"""The documents' examples, read from `../shared/seeds/` at test time (never retyped), and the one
mechanical substitution applied to them: host, credentials, file paths and the values an earlier
step returned (session tokens, user UUIDs). Every replacement is listed in `Substitution.pairs`,
so what a test runs is the document's text with exactly these strings changed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SEEDS = Path(os.environ.get("FACESTREAM_SEEDS", Path(__file__).resolve().parents[3] / "shared" / "seeds"))


def block(doc: str, heading: str, index: int = 0, after: str | None = None) -> str:
    """The `index`-th fenced code block after the first heading line containing `heading` (after
    the line containing `after`, when the heading text repeats in the document)."""
    return block_in(SEEDS / doc, heading, index, after)


def block_in(path: Path, heading: str, index: int = 0, after: str | None = None) -> str:
    """`block` of any Markdown file (the README's own examples)."""
    doc = path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line)
    start = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("#") and heading in lines[i])
    found = -1
    i = start + 1
    while i < len(lines):
        if lines[i].strip().startswith("```"):
            end = i + 1
            while not lines[end].strip().startswith("```"):
                end += 1
            found += 1
            if found == index:
                return "\n".join(lines[i + 1:end]) + "\n"
            i = end
        i += 1
    raise LookupError(f"{doc}: no code block {index} after {heading!r}")


@dataclass
class Substitution:
    """Ordered (document text -> value here) pairs; applied in order, longest first where they nest."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, value: str) -> "Substitution":
        self.pairs.append((text, value))
        return self

    def apply(self, source: str) -> str:
        for old, new in self.pairs:
            source = source.replace(old, new)
        return source
