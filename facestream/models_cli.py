"""`facestream models`: the weights the configured profile uses (licence, sha256, size), the
stored embeddings per recogniser, and the re-enrollment path when they differ.

Verification is the engine's own (engine/weights.py): a file whose sha256 differs from the
pinned one makes this command fail exactly as the server would at start.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

from engine.errors import ModelLoadError
from engine.profiles import resolve_profile
from engine.weights import verify_liveness_bundle, verify_profile
from facestream.config import Config


def run_models(config: Config, drop_other_models: bool, yes: bool, with_database: bool = True) -> int:
    try:
        profile = resolve_profile(config.engine)
        models = verify_profile(profile)
        if config.liveness.landmarks == "mediapipe" and profile.landmarks_backend != "mediapipe":
            models += (replace(verify_liveness_bundle(config.liveness.mediapipe_model), role="liveness landmarker"),)
    except ModelLoadError as exc:
        print(f"facestream: {exc}", file=sys.stderr)
        return 1
    use = "commercial use allowed by every licence" if profile.commercial_use else "NON-COMMERCIAL research use only"
    print(f"profile: {profile.name} ({use}); match threshold (distance) {config.matching.threshold:.2f}")
    print(f"recogniser: {profile.recognizer.model_id}, {profile.recognizer.dim}-d")
    for m in models:
        state = "sha256 verified" if m.pinned else "sha256 not pinned (a configured file)"
        print(f"- {m.role}: {m.model_id}\n    file:    {m.path}\n    input:   {m.input_spec}\n    licence: {m.licence}"
              f"\n    sha256:  {m.sha256} ({state})\n    size:    {m.size} bytes")
    if not with_database:
        return 0
    return asyncio.run(_stored(config, profile.recognizer.model_id, drop_other_models, yes))


async def _stored(config: Config, current: str, drop: bool, yes: bool) -> int:
    from storage import model_stamp
    from storage.sql_store import SqlStore

    store = SqlStore(config.storage.database_url, recognizer=current)
    try:
        await store.open()
        async with store.engine.connect() as conn:
            stored = await model_stamp.stored_models(conn)
        print("stored embeddings: " + (", ".join(f"{n} by {m}" for m, n in sorted(stored.items())) or "none"))
        others = {m: n for m, n in stored.items() if m != current}
        if not others:
            return 0
        if not drop:
            print(f"{sum(others.values())} stored embeddings were made by another recogniser: their tenants are "
                  "refused. Start with the profile they were enrolled under, or delete them with "
                  "`facestream models --drop-other-models --yes` and enroll those faces again (no photos are kept).")
            return 0
        if not yes:
            print("--drop-other-models deletes those embeddings for good; add --yes to do it", file=sys.stderr)
            return 2
        async with store.engine.begin() as conn:
            dropped = await model_stamp.drop_other_models(conn, current)
        for client_id, tenant_id, n in dropped:
            print(f"deleted {n} embeddings of client {client_id}, tenant {tenant_id}: enroll those faces again")
        return 0
    finally:
        await store.close()
