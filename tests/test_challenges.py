"""Server-drawn liveness challenges, and the prompt shown to REST clients exactly as
`liveness_update` shows it to streaming clients."""

from __future__ import annotations

from api.keys import SESSION_SERVICES, STORE
from tests.conftest import FaceClient
from tests.session_helpers import enroll_video, make_user, post_frame, video_jpegs

POOL = ["turn_left", "turn_right", "nod"]


def _key(auth: dict[str, str]) -> str:
    return auth["Authorization"].split()[1].split(":")[0]


async def test_server_draws_challenges_and_rest_frames_carry_the_prompt(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"liveness.challenge_pool": POOL, "liveness.random_challenges": 2,
                                        "liveness.challenge_timeout_s": 30.0})
    svc = client.app[SESSION_SERVICES]
    drawn = set()
    for _ in range(8):
        resp = await client.post("/api/auth/authentication/create/", json={"mode": "identification",
                                                                           "require_liveness": True}, headers=auth)
        assert resp.status == 201
        session = await resp.json()
        row = await svc.store.by_id(session["client_id"] if "client_id" in session else
                                    (await client.app[STORE].client_by_key(_key(auth))).id, session["session_id"])
        assert row is not None
        challenges = tuple(row.params["challenges"])
        assert len(challenges) == 2 and len(set(challenges)) == 2 and set(challenges) <= set(POOL), challenges
        drawn.add(challenges)
    assert len(drawn) > 1  # drawn at random, not a fixed list a client could learn

    token = session["session_token"]
    prompts = set()
    expires = []
    for t, data in video_jpegs()[:20]:
        status, out = await post_frame(client, token, data, t, path="/api/auth/authentication/process-frame/")
        assert status == 200, out
        assert out["challenge"] == out["liveness_data"]["challenge"]
        if out["challenge"]:
            prompts.add(out["challenge"])
            expires.append(out["challenge_expires_at"])
    # The drawn challenges, and only those, are prompted (the video barely moves its head).
    assert prompts and prompts <= {f"please_{c}" for c in challenges}, (prompts, challenges)
    assert all(isinstance(e, float) and e > 0 for e in expires)

    # Asking for no liveness draws nothing; naming challenges uses exactly those.
    resp = await client.post("/api/auth/authentication/create/", json={"mode": "identification",
                                                                       "require_liveness": False}, headers=auth)
    token = (await resp.json())["session_token"]
    status, out = await post_frame(client, token, video_jpegs()[5][1], 0.3,
                                   path="/api/auth/authentication/process-frame/")
    assert status == 200 and out["challenge"] is None and out["challenges_completed"] == []


async def test_default_pool_blink_challenge_is_answered_by_the_live_video(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await make_user(client, auth, "vid", "Video Person")
    _, responses = await enroll_video(client, auth, "vid")
    final = responses[-1]
    assert final["session_status"] == "completed" and final["liveness_verified"] is True
    # The server drew a blink (the default pool), prompted it, and the person's blink answered it.
    assert any(r["challenge"] == "please_blink" for r in responses)
    assert final["challenges_completed"] == ["blink"]
