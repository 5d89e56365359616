"""Real-model engine tests on the shared photos (detection counts, embeddings, quality, gallery)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import ImageDecodeError, ImageTooLargeError, NoFaceError, UnsupportedImageError
from engine.face_engine import FaceEngine
from engine.matching import Gallery, GalleryEntry, cosine
from testkit.data import manifest, read

# Manifest counts are by eye; these rows have caveats in MANIFEST.md (background faces, faces
# cut at the edge), so the detector may find a range.
TOLERANCE = {
    "scenes/selfie-many-people.jpg": range(4, 8),  # 7 by eye, ~3 cut off at the edges
}


def _expected(faces: str) -> range:
    if faces.endswith("+bg"):
        n = int(faces[:-3])
        return range(n, n + 3)
    return range(int(faces), int(faces) + 1)


SCENES = [r for r in manifest() if r.kind != "face" and r.path.startswith("scenes/")]


@pytest.mark.parametrize("row", SCENES, ids=[r.path for r in SCENES])
def test_detect_counts_match_manifest(engine: FaceEngine, row) -> None:
    found = engine.detect(engine.decode(read(row.path)))
    allowed = TOLERANCE.get(row.path, _expected(row.faces))
    assert len(found) in allowed, f"{row.path}: {len(found)} faces, manifest says {row.faces}"


def test_every_identity_image_yields_one_main_face(engine: FaceEngine) -> None:
    for row in manifest():
        if row.kind == "face":
            faces = engine.detect(engine.decode(read(row.path)))
            assert faces, row.path
            assert faces[0].score > 0.5


def test_tight_crops_need_the_padded_retry(engine: FaceEngine) -> None:
    pixels = engine.decode(read("faces/jim_parsons/sheldon1.png")).pixels
    assert pixels.shape[:2] == (150, 150)
    assert engine.detector.detect(pixels, pad_retry=False) == []
    found = engine.detector.detect(pixels)
    assert len(found) == 1
    box = found[0].box
    # The box is mapped back into the crop's own coordinates.
    assert 0 <= box.x1 < box.x2 <= 150 and 0 <= box.y1 < box.y2 <= 150


def test_embedding_is_normalised_512_and_stable(engine: FaceEngine) -> None:
    data = read("faces/barack_obama/obama.jpg")
    a = engine.embedding_of(engine.decode(data))
    b = engine.embedding_of(engine.decode(data))
    assert a.shape == (512,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    assert cosine(a, b) > 0.9999


def test_boxes_are_in_original_coordinates_after_reduced_decode(engine: FaceEngine) -> None:
    # 4352x2903 JPEG: decoded at reduced scale, boxes must still refer to the original file.
    decoded = engine.decode(read("faces/scarlett_johansson/img49.jpg"))
    assert decoded.scale > 1.0
    assert (decoded.original_width, decoded.original_height) == (4352, 2903)
    box = engine.detect(decoded)[0].box
    assert box.x2 > decoded.pixels.shape[1]  # only possible in original coordinates
    assert box.x2 <= 4352 and box.y2 <= 2903


def test_quality_flags_dark_blurry_and_small_faces(engine: FaceEngine) -> None:
    pixels = engine.decode(read("faces/barack_obama/obama.jpg")).pixels
    good = engine.analyze(pixels).largest
    assert good is not None and good.quality.obstacles == () and good.quality.score > 0.7

    dark = engine.analyze((pixels * 0.15).astype(np.uint8)).largest
    assert dark is not None and "too_dark" in dark.quality.obstacles
    assert dark.quality.score < good.quality.score

    blurred = engine.analyze(cv2.GaussianBlur(pixels, (0, 0), 9)).largest
    assert blurred is not None and "blurry" in blurred.quality.obstacles

    h, w = pixels.shape[:2]
    small = cv2.resize(pixels, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small[:480, :640]
    tiny = engine.analyze(canvas).largest
    assert tiny is not None and "face_too_small" in tiny.quality.obstacles


def test_multiple_faces_are_flagged(engine: FaceEngine) -> None:
    analysis = engine.analyze(engine.decode(read("scenes/two_people.jpg")))
    assert len(analysis.faces) == 2
    assert all("multiple_faces" in f.quality.obstacles for f in analysis.faces)
    # Largest first.
    assert analysis.faces[0].box.area >= analysis.faces[1].box.area


def test_head_pose_sign_follows_a_mirrored_face(engine: FaceEngine) -> None:
    pixels = engine.decode(read("faces/jack_dorsey/img17.jpg")).pixels
    yaw = engine.analyze(pixels).largest.quality.pose.yaw  # type: ignore[union-attr]
    mirrored = engine.analyze(cv2.flip(pixels, 1)).largest.quality.pose.yaw  # type: ignore[union-attr]
    assert abs(yaw + mirrored) < 3.0  # mirroring negates yaw


def test_no_face_raises(engine: FaceEngine) -> None:
    with pytest.raises(NoFaceError, match="No face detected in image"):
        engine.embed_largest(engine.decode(read("scenes/dogs.jpg")))


def test_decoder_rejects_bad_bytes(engine: FaceEngine) -> None:
    with pytest.raises(UnsupportedImageError):
        engine.decode(b"definitely not an image" * 10)
    with pytest.raises(ImageDecodeError, match="Empty"):
        engine.decode(b"")
    jpeg = read("faces/barack_obama/obama.jpg")
    with pytest.raises(ImageDecodeError):
        engine.decode(jpeg[: len(jpeg) // 3])
    big = cv2.imencode(".png", np.zeros((8000, 6250), np.uint8))[1].tobytes()
    with pytest.raises(ImageTooLargeError, match="50.0 megapixels"):
        engine.decode(big)


def test_gallery_ranks_distinct_users(engine: FaceEngine) -> None:
    def emb(path: str) -> np.ndarray:
        return engine.embedding_of(engine.decode(read(path)))

    gallery = Gallery(
        [
            GalleryEntry(1, "obama", "Barack Obama", emb("faces/barack_obama/obama.jpg")),
            GalleryEntry(2, "obama", "Barack Obama", emb("faces/barack_obama/obama2.jpg")),
            GalleryEntry(3, "biden", "Joe Biden", emb("faces/joe_biden/biden2.jpg")),
            GalleryEntry(4, "jolie", "Angelina Jolie", emb("faces/angelina_jolie/img1.jpg")),
        ]
    )
    hits = gallery.search(emb("faces/barack_obama/obama1.jpg"), k=5)
    assert [h.user_id for h in hits][0] == "obama"
    assert len({h.user_id for h in hits}) == len(hits) == 3
    assert hits[0].similarity > hits[1].similarity
    best = gallery.best_for_user("biden", emb("faces/joe_biden/biden.jpg"))
    assert best is not None and best.entry_id == 3 and best.distance < 0.72
