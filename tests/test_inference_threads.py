"""Model calls that overlap run on one-thread sessions (engine.busy_intra_op_threads), calls
that run alone on the full intra-op count; both give the same answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import cv2
import numpy as np
import onnxruntime as ort

from engine.face_engine import FaceEngine
from engine.models import IN_FLIGHT, AdaptiveSession, open_session
from facestream.config import load_config
from testkit.data import DATA


def test_busy_calls_use_the_narrow_session_and_answer_the_same(engine: FaceEngine) -> None:
    settings = load_config(env={}).engine
    assert settings.intra_op_threads == 2 and settings.busy_intra_op_threads == 1
    path = engine.profile.recognizer.model.path
    assert isinstance(open_session(path, replace(settings, busy_intra_op_threads=0)), ort.InferenceSession)
    session = open_session(path, settings)
    assert isinstance(session, AdaptiveSession)
    assert isinstance(engine.embedder._session, AdaptiveSession)  # what the app's engine runs

    img = cv2.imread(str(DATA / "faces" / "angelina_jolie" / "img5.jpg"))
    (face,) = engine.detector.detect(img)[:1]
    crop = engine.embedder.align(img, face).astype(np.float32)
    spec = engine.profile.recognizer
    batch = np.ascontiguousarray(((crop[..., ::-1] if spec.rgb else crop) - spec.mean) / spec.std)
    feed = {session.get_inputs()[0].name: batch.transpose(2, 0, 1)[None]}
    alone = session._alone.run(None, feed)[0]
    busy = session._busy.run(None, feed)[0]
    assert np.allclose(alone, busy, atol=1e-4)

    with ThreadPoolExecutor(4) as pool:  # overlapping calls: some run narrow, all agree
        outs = list(pool.map(lambda _: session.run(None, feed)[0], range(24)))
    assert all(np.allclose(out, alone, atol=1e-4) for out in outs)
    assert IN_FLIGHT.count == 0
