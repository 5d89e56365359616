"""Decode untrusted image bytes into BGR uint8 arrays, safely.

Pillow reads the header first so the pixel-count limit is enforced before any decode; JPEGs
much larger than detection needs are decoded at a reduced scale (libjpeg's DCT scaling),
which is both faster and lighter than decoding full size and resizing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError

Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit below, with a clear error

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass(frozen=True)
class DecodedImage:
    """BGR uint8 pixels plus the factor that maps their coordinates back to the original file."""

    pixels: np.ndarray
    scale: float = 1.0
    original_width: int = 0
    original_height: int = 0


def decode_image(data: bytes, max_pixels: int, target_side: int = 0) -> DecodedImage:
    """Decode to BGR uint8.

    `target_side` > 0 lets JPEG decoding shrink by powers of two while the long side stays at
    least that large. Alpha is composited on white; grey and palette images become BGR; EXIF
    orientation is applied.
    """
    if not data:
        raise ImageDecodeError("Empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLargeError(width, height, max_pixels)
            if target_side > 0 and img.format == "JPEG" and max(width, height) > 2 * target_side:
                scale = max(width, height) / target_side
                img.draft("RGB", (int(width / scale), int(height / scale)))
            img.load()
            scale = width / img.size[0]
            before = img.size
            img = ImageOps.exif_transpose(img)
            if img.size != before:  # rotated by 90 degrees: the original's axes swap too
                width, height = height, width
            rgb = _to_rgb(img)
    except ImageTooLargeError:
        raise
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError("Unsupported or unrecognised image format; send a JPEG or PNG image") from exc
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"Could not decode image data: {exc}") from exc
    if rgb.ndim != 3 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise ImageDecodeError("Image is too small to contain a face")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return DecodedImage(pixels=bgr, scale=scale, original_width=width, original_height=height)


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        peak = float(arr.max()) or 1.0
        grey = np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.stack([grey, grey, grey], axis=-1)
    return np.asarray(img.convert("RGB"))

