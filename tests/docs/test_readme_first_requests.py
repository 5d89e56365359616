"""README.md §First requests, pasted into bash: `.venv/bin/facestream` is the installed CLI (the
test runs the one beside this Python, or `python -m facestream.cli` where it is not installed), `localhost:8000` the live server, and the three
photos are real ones; the CLI writes to the live server's database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.docs.conftest import FACE, OTHER, LiveServer, run
from tests.docs.seeds import block_in

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_first_requests_work_as_pasted(live: LiveServer) -> None:
    installed = Path(sys.executable).parent / "facestream"  # what `make install` puts in .venv/bin
    cli = str(installed) if installed.exists() else f"{sys.executable} -m facestream.cli"
    script = (block_in(README, "### First requests")
              .replace(".venv/bin/facestream", cli)
              .replace("localhost:8000", live.base)
              .replace("@ada.jpg", f"@{FACE}").replace("@at-the-door.jpg", f"@{FACE}")
              .replace("@someone.jpg", f"@{OTHER}"))
    lines = script.strip().splitlines()
    # Each curl prints one JSON answer; `echo` between them keeps them apart.
    out = run(["bash", "-c", "\n".join(lines[:1] + [f"{line}; echo" for line in lines[1:]])],
              env={"FACESTREAM__STORAGE__DATABASE_URL": live.config.storage.database_url})
    enrolled, verified, identified = (json.loads(x) for x in out.strip().splitlines())
    assert enrolled["stored"] is True and enrolled["tenant_id"] == 1
    assert verified["verified"] is True and verified["user_id"] == 42
    assert identified["match"] is False  # someone.jpg is someone else
