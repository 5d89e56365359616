"""Engine exceptions; the outer layers map them to HTTP errors."""


class EngineError(Exception):
    """Base class of everything the engine raises on purpose."""


class ModelLoadError(EngineError):
    """A model file is missing or onnxruntime cannot load it."""


class ImageDecodeError(EngineError):
    """The bytes are not an image OpenCV/Pillow can decode (corrupt, truncated, empty)."""


class UnsupportedImageError(ImageDecodeError):
    """The bytes are not in any image format we read (JPEG, PNG, WebP, BMP, TIFF, GIF)."""


class ImageTooLargeError(EngineError):
    """The image's pixel count exceeds the configured limit (decompression-bomb guard)."""

    def __init__(self, width: int, height: int, limit: int) -> None:
        self.width = width
        self.height = height
        self.limit = limit
        super().__init__(
            f"Image is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {limit / 1e6:.1f} megapixels"
        )


class NoFaceError(EngineError):
    """No face was found, even after the padded retry."""

    def __init__(self) -> None:
        super().__init__("No face detected in image")


class InvalidEmbeddingError(EngineError):
    """An embedding supplied by a caller is not the recogniser's number of finite floats."""


class GalleryModelMismatchError(EngineError):
    """A tenant's stored embeddings were made by another recogniser than this server's: they
    cannot be compared (and no photos are kept to re-embed them), so the tenant is refused."""

    def __init__(self, tenant_id: int, stored: dict[str, int], current: str) -> None:
        self.tenant_id = tenant_id
        self.stored = dict(stored)
        self.current = current
        held = ", ".join(f"{n} made by recogniser '{m}'" for m, n in sorted(self.stored.items()))
        super().__init__(
            f"Tenant {tenant_id} holds face embeddings of another model ({held}); this server runs recogniser "
            f"'{current}' (engine.profile), and embeddings of different models cannot be compared. Either start "
            f"the server with the profile those faces were enrolled under, or delete them (`facestream models "
            f"--drop-other-models`, or DELETE /enrollments/{tenant_id}/...) and enroll the faces again: no photos "
            "are kept, so re-enrollment is the only way to move a gallery to another model."
        )
