"""Decode untrusted image bytes into BGR uint8 arrays, safely.

Pillow reads the header first so the pixel-count and aspect-ratio limits are enforced before
any decode; JPEGs much larger than detection needs are decoded at a reduced scale (libjpeg's DCT
scaling), other formats are reduced right after decoding, before any further copy is made.
Large images pass a DecodeGate (at most N decoding at once) and give their memory back to the
OS afterwards, so N hostile images cost a bounded amount (README, "Decoder memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError

Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit below, with a clear error

_REDUCIBLE = ("L", "LA", "I", "F", "RGB", "RGBA", "CMYK")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass(frozen=True)
class DecodedImage:
    """BGR uint8 pixels plus the factor that maps their coordinates back to the original file."""

    pixels: np.ndarray
    scale: float = 1.0
    original_width: int = 0
    original_height: int = 0


class DecodeGate:
    """At most `slots` decodes of images over `large_pixels` at once (a thread semaphore: the
    decode runs on executor threads). Small images pass without waiting."""

    def __init__(self, slots: int, large_pixels: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.large_pixels = large_pixels

    @contextmanager
    def admit(self, pixels: int) -> Iterator[None]:
        if pixels <= self.large_pixels:
            yield
            return
        with self._slots:
            try:
                yield
            finally:
                release_free_memory()


def _malloc_trim() -> "ctypes._NamedFuncPointer | None":
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS. Pillow decodes in 16 MB blocks that glibc serves
    from thread arenas; without a trim one 40 MP decode leaves ~1 GB resident for good."""
    if _TRIM is not None:
        _TRIM(0)


def decode_image(data: bytes, max_pixels: int, target_side: int = 0, max_aspect_ratio: float = 0.0,
                 gate: DecodeGate | None = None) -> DecodedImage:
    """Decode to BGR uint8.

    `target_side` > 0 lets decoding shrink (JPEG: by powers of two while decoding; others: an
    integer reduction right after) while the long side stays at least that large. Alpha is
    composited on white; grey and palette images become BGR; EXIF orientation is applied.
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
            _check_shape(width, height, max_aspect_ratio)
            with gate.admit(width * height) if gate is not None else _no_gate():
                return _decode(img, width, height, target_side)
    except ImageTooLargeError:
        raise
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError("Unsupported or unrecognised image format; send a JPEG or PNG image") from exc
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"Could not decode image data: {exc}") from exc


@contextmanager
def _no_gate() -> Iterator[None]:
    yield


def _check_shape(width: int, height: int, max_aspect_ratio: float) -> None:
    if width < 8 or height < 8:
        raise ImageDecodeError(f"Image is {width}x{height}: too small to contain a face")
    if max_aspect_ratio > 0 and max(width, height) > max_aspect_ratio * min(width, height):
        raise ImageDecodeError(
            f"Image is {width}x{height}: an aspect ratio over {max_aspect_ratio:g}:1 is not a photo of a face"
        )


def _decode(img: Image.Image, width: int, height: int, target_side: int) -> DecodedImage:
    """Every intermediate Pillow image is closed before returning, so a large decode's pixels are
    free (and trimmed by the gate) before the models run on the reduced copy."""
    opened = [img]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if target_side > 0 and img.format == "JPEG" and max(width, height) > 2 * target_side:
                scale = max(width, height) / target_side
                img.draft("RGB", (int(width / scale), int(height / scale)))
            img.load()
            factor = max(img.size) // target_side if target_side > 0 else 1
            if factor >= 2:  # reduce now: every later copy (RGB, BGR, padding) is factor^2 smaller
                if img.mode not in _REDUCIBLE:
                    img = img.convert("RGBA" if "transparency" in img.info or "A" in img.mode else "RGB")
                    opened.append(img)
                img = img.reduce(factor)
                opened.append(img)
            scale = width / img.size[0]
            before = img.size
            img = ImageOps.exif_transpose(img)
            opened.append(img)
            if img.size != before:  # rotated by 90 degrees: the original's axes swap too
                width, height = height, width
            rgb = _to_rgb(img)
        finally:
            for each in opened:
                each.close()
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

