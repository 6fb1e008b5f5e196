"""Thumbnails with Pillow: CPU-bound and synchronous, so the media service runs ``render`` in
a worker thread, a bounded number at a time.

Images are decoded only from the formats thumbnails are made of, only up to ``MAX_PIXELS``
(a small file can decode to gigabytes), turned upright by their EXIF orientation, and written
anew, so the thumbnail carries none of the original's metadata (such as GPS position).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from tumar.errors import MatrixError

MAX_PIXELS = 40_000_000
"""Largest image (width times height) the server decodes for a thumbnail."""

_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
_RESAMPLE = Image.Resampling.LANCZOS


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes
    content_type: str  # image/png or image/jpeg
    width: int
    height: int


def cannot_thumbnail(reason: str) -> MatrixError:
    return MatrixError(400, "M_UNKNOWN", f"Cannot generate a thumbnail: {reason}")


def too_large_to_thumbnail() -> MatrixError:
    return MatrixError(
        413, "M_TOO_LARGE", f"The image is too large to thumbnail (over {MAX_PIXELS} pixels)."
    )


def render(data: bytes, width: int, height: int, method: str) -> Thumbnail:
    """A thumbnail of at most ``width`` x ``height``: the whole image scaled to fit
    (``scale``), or cut to that aspect ratio around the centre (``crop``). Never enlarged."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _render(data, width, height, method)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise too_large_to_thumbnail() from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise cannot_thumbnail("the file is not a readable image.") from None


def _render(data: bytes, width: int, height: int, method: str) -> Thumbnail:
    with Image.open(io.BytesIO(data), formats=_FORMATS) as opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise too_large_to_thumbnail()
        as_jpeg = opened.format == "JPEG"
        if as_jpeg:
            # Let the JPEG decoder scale down by a power of two while decoding (fast, and a
            # fraction of the memory); never below twice the target size.
            opened.draft("RGB", (width * 2, height * 2))
        image = ImageOps.exif_transpose(opened)
        image = _normalise_mode(image, as_jpeg)
        if method == "crop":
            image = _crop(image, width, height)
        else:
            image.thumbnail((width, height), _RESAMPLE)
        out = io.BytesIO()
        if as_jpeg:
            image.save(out, "JPEG", quality=80)
        else:
            image.save(out, "PNG")
        return Thumbnail(
            out.getvalue(), "image/jpeg" if as_jpeg else "image/png", image.width, image.height
        )


def _normalise_mode(image: Image.Image, as_jpeg: bool) -> Image.Image:
    if as_jpeg:
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    has_alpha = image.mode in ("PA", "RGBa", "La") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha or image.mode == "P" else "RGB")


def _crop(image: Image.Image, width: int, height: int) -> Image.Image:
    src_w, src_h = image.size
    ratio = width / height
    if src_w / src_h > ratio:
        box_w, box_h = max(1, round(src_h * ratio)), src_h
    else:
        box_w, box_h = src_w, max(1, round(src_w / ratio))
    left, top = (src_w - box_w) // 2, (src_h - box_h) // 2
    image = image.crop((left, top, left + box_w, top + box_h))
    if box_w > width:
        image = image.resize((width, height), _RESAMPLE)
    return image
