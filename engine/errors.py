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
    """An embedding supplied by a caller is not 512 finite floats."""
