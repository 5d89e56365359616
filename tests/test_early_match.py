"""Door cameras' early match (`early_match_margin`): on real embeddings, one clear match decides at
once, while a non-match, or the default settings, still wait for `decide_samples`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.face_engine import FaceEngine
from engine.matching import Gallery, GalleryEntry
from recognition.decision import decide
from recognition.settings import RecognitionSettings
from testkit.data import read

THRESHOLD = 0.72


def _gallery_and_probes(engine: FaceEngine) -> tuple[Gallery, np.ndarray, np.ndarray]:
    def emb(path: str) -> np.ndarray:
        return engine.embedding_of(engine.decode(read(path)))

    gallery = Gallery([GalleryEntry(1, "obama", "Barack Obama", emb("faces/barack_obama/obama.jpg")),
                       GalleryEntry(2, "biden", "Joe Biden", emb("faces/joe_biden/biden2.jpg"))])
    return gallery, emb("faces/barack_obama/obama2.jpg"), emb("faces/angelina_jolie/img1.jpg")


def _decide(gallery: Gallery, vec: np.ndarray, samples: int, settings: RecognitionSettings, final: bool = False,
            live: bool = True):  # type: ignore[no-untyped-def]
    return decide(mode="identification", user_id=None, gallery=gallery, embedding=vec, samples=samples, live=live,
                  require_liveness=True, threshold=THRESHOLD, top_k=3, settings=settings, final=final)


def test_one_clear_match_decides_at_once_others_wait(engine: FaceEngine) -> None:
    gallery, same, stranger = _gallery_and_probes(engine)
    default, door = RecognitionSettings(), replace(RecognitionSettings(), early_match_margin=0.2)
    assert gallery.search(same, 1)[0].distance < THRESHOLD - 0.2  # the premise: a clear match
    # default settings: one sample is never enough
    assert _decide(gallery, same, 1, default) is None
    # door: the clear match succeeds from its first sample...
    got = _decide(gallery, same, 1, door)
    assert got is not None and got.status == "success" and got.user_id == "obama", got
    # ...but not before the face proved liveness
    assert _decide(gallery, same, 1, door, live=False) is None
    # a stranger still waits for decide_samples, then is unknown
    assert _decide(gallery, stranger, 1, door) is None
    assert _decide(gallery, stranger, 2, door) is None
    late = _decide(gallery, stranger, 3, door)
    assert late is not None and (late.status, late.reason) == ("unknown", "no_match"), late
    # a track that ends with one unclear sample: not enough samples
    end = _decide(gallery, stranger, 1, door, final=True)
    assert end is not None and end.reason == "not_enough_samples"
