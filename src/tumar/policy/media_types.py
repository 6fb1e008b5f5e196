"""What the bytes of an upload are, whether that fits the type the client declared, and which
types the server accepts. Pure functions of the first bytes of an upload (no I/O).

The declared ``Content-Type`` is checked against the bytes, never trusted on its own:

1. ``application/octet-stream`` (also the default when no type is given) declares nothing
   about the bytes and always fits. End-to-end encrypted attachments are uploaded this way:
   their bytes are ciphertext.
2. A declared type that has a reliable signature (PNG, JPEG, PDF, MP4, ...) needs bytes that
   carry it: an executable declared as ``image/png`` is refused.
3. Any other declared type (``text/plain``, ``text/csv``, vendor types) fits unless the bytes
   are recognisably something else: a PNG declared as ``text/plain`` is refused.

Only signatures of four bytes or more (or with structural checks) are used for detection, so
random bytes (ciphertext) are practically never mistaken for a format. The short MPEG audio
frame header is only used to confirm a declared ``audio/mpeg`` or ``audio/aac``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tumar.policy.decision import Decision

SNIFF_BYTES = 4096
"""How much of the start of an upload detection looks at."""

OPAQUE = "application/octet-stream"

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MEDIA_TYPE = re.compile(
    rf"^({_TOKEN}/{_TOKEN})((?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*)\s*$"
)
_PATTERN = re.compile(rf"^(\*/\*|{_TOKEN}/\*|{_TOKEN}/{_TOKEN})$")
MAX_TYPE_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Format:
    """A file format recognised by its first bytes."""

    name: str  # readable, for error messages
    mime: str  # the canonical media type
    declared: frozenset[str]  # declared types (essences) that fit these bytes
    strict: bool = True  # a declared type of this format needs these bytes
    prefixes: tuple[str, ...] = ()  # declared types starting with these fit too

    def fits(self, essence: str) -> bool:
        return essence in self.declared or essence.startswith(self.prefixes)


def _f(
    name: str, mime: str, *others: str, strict: bool = True, prefixes: tuple[str, ...] = ()
) -> Format:
    return Format(name, mime, frozenset((mime, *others)), strict, prefixes)


PNG = _f("PNG image", "image/png", "image/apng", "image/x-png")
JPEG = _f("JPEG image", "image/jpeg", "image/jpg", "image/pjpeg")
GIF = _f("GIF image", "image/gif")
WEBP = _f("WebP image", "image/webp")
BMP = _f("BMP image", "image/bmp", "image/x-bmp", "image/x-ms-bmp")
TIFF = _f("TIFF image", "image/tiff", "image/tiff-fx")
ICO = _f("icon", "image/vnd.microsoft.icon", "image/x-icon", "image/ico")
_ISO_MEDIA = (
    "video/mp4",
    "audio/mp4",
    "audio/m4a",
    "audio/x-m4a",
    "video/x-m4v",
    "video/quicktime",
    "video/3gpp",
    "video/3gpp2",
    "audio/3gpp",
    "audio/3gpp2",
    "image/heic",
    "image/heif",
    "image/heic-sequence",
    "image/heif-sequence",
    "image/avif",
    "image/avif-sequence",
)
MP4 = _f("MP4 video", "video/mp4", *_ISO_MEDIA)
MP4_AUDIO = _f("MP4 audio", "audio/mp4", *_ISO_MEDIA)
QUICKTIME = _f("QuickTime video", "video/quicktime", *_ISO_MEDIA)
HEIF = _f("HEIF image", "image/heic", *_ISO_MEDIA)
AVIF = _f("AVIF image", "image/avif", *_ISO_MEDIA)
_MATROSKA = ("video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska")
WEBM = _f("WebM video", "video/webm", *_MATROSKA)
MATROSKA = _f("Matroska video", "video/x-matroska", *_MATROSKA)
OGG = _f("Ogg media", "audio/ogg", "video/ogg", "application/ogg", "audio/opus", "audio/vorbis")
FLAC = _f("FLAC audio", "audio/flac", "audio/x-flac")
WAV = _f("WAV audio", "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave", "audio/x-pn-wav")
AVI = _f("AVI video", "video/x-msvideo", "video/avi", "video/msvideo")
MP3 = _f("MP3 audio", "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mp3")
PDF = _f("PDF document", "application/pdf", "application/x-pdf")
ZIP = _f(
    "ZIP archive",
    "application/zip",
    "application/x-zip-compressed",
    "application/x-zip",
    "application/epub+zip",
    "application/java-archive",
    "application/vnd.android.package-archive",
    "application/x-xpinstall",
    "application/vnd.visio",
    "model/vnd.usdz+zip",
    prefixes=(
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
        "application/vnd.ms-word.",
        "application/vnd.ms-excel.",
        "application/vnd.ms-powerpoint.",
    ),
)
GZIP = _f("gzip archive", "application/gzip", "application/x-gzip", "application/x-tgz")
SEVEN_ZIP = _f("7-Zip archive", "application/x-7z-compressed")
RAR = _f("RAR archive", "application/vnd.rar", "application/x-rar-compressed", "application/x-rar")
TAR = _f("tar archive", "application/x-tar", "application/x-gtar", strict=False)
# Legacy Microsoft Office files. Not strict: browsers on Windows declare CSV text files as
# application/vnd.ms-excel.
OLE = _f(
    "Microsoft Office (legacy) document",
    "application/x-ole-storage",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.ms-outlook",
    "application/vnd.ms-project",
    "application/vnd.visio",
    "application/x-msi",
    strict=False,
)
EXE = _f(
    "Windows executable",
    "application/vnd.microsoft.portable-executable",
    "application/x-msdownload",
    "application/x-dosexec",
    "application/x-msdos-program",
    "application/x-ms-dos-executable",
    "application/x-executable",
    "application/x-msi",
    strict=False,
)
ELF = _f(
    "ELF executable",
    "application/x-executable",
    "application/x-elf",
    "application/x-sharedlib",
    "application/x-pie-executable",
    "application/x-object",
    "application/x-coredump",
    strict=False,
)
HTML = _f("HTML document", "text/html", "application/xhtml+xml", strict=False)
SVG = _f("SVG image", "image/svg+xml", strict=False)

STRICT_FORMATS: tuple[Format, ...] = (
    PNG,
    JPEG,
    GIF,
    WEBP,
    BMP,
    TIFF,
    ICO,
    MP4,
    WEBM,
    OGG,
    FLAC,
    WAV,
    AVI,
    PDF,
    ZIP,
    GZIP,
    SEVEN_ZIP,
    RAR,
)


def _bmp(head: bytes) -> bool:
    # "BM", file size, four reserved zero bytes, pixel offset: the reserved bytes make the
    # two-byte signature reliable.
    return len(head) >= 14 and head[:2] == b"BM" and head[6:10] == b"\0\0\0\0"


def _pe(head: bytes) -> bool:
    if len(head) < 0x40 or head[:2] != b"MZ":
        return False
    offset = int.from_bytes(head[0x3C:0x40], "little")
    return head[offset : offset + 4] == b"PE\0\0"


def _id3(head: bytes) -> bool:
    return len(head) >= 5 and head[:3] == b"ID3" and head[3] in (2, 3, 4) and head[4] == 0


def _iso_media(head: bytes) -> Format | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"hevc", b"hevx"):
        return HEIF
    if brand in (b"avif", b"avis"):
        return AVIF
    if brand == b"qt  ":
        return QUICKTIME
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return MP4_AUDIO
    return MP4


def _riff(head: bytes) -> Format | None:
    if head[:4] != b"RIFF":
        return None
    return {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}.get(head[8:12])


def _matroska(head: bytes) -> Format | None:
    if head[:4] != b"\x1a\x45\xdf\xa3":
        return None
    return WEBM if b"webm" in head[:64] else MATROSKA


def _markup(head: bytes) -> Format | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe")):
        return HTML
    if text.startswith(b"<svg"):
        return SVG
    if text.startswith((b"<?xml", b"<!--", b"<!doctype")):
        if b"<html" in text:
            return HTML
        if b"<svg" in text:
            return SVG
    return None


_PREFIXES: tuple[tuple[bytes, Format], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"\x00\x00\x01\x00", ICO),
    (b"OggS", OGG),
    (b"fLaC", FLAC),
    (b"%PDF-", PDF),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"\x1f\x8b\x08", GZIP),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_ZIP),
    (b"Rar!\x1a\x07", RAR),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (b"\x7fELF", ELF),
)

_CHECKS: tuple[Callable[[bytes], Format | None], ...] = (
    _iso_media,
    _riff,
    _matroska,
    lambda h: MP3 if _id3(h) else None,
    lambda h: BMP if _bmp(h) else None,
    lambda h: EXE if _pe(h) else None,
    lambda h: TAR if h[257:262] == b"ustar" else None,
    _markup,
)


def detect(head: bytes) -> Format | None:
    """The format of a file from its first bytes (up to ``SNIFF_BYTES``), or None."""
    for prefix, fmt in _PREFIXES:
        if head.startswith(prefix):
            return fmt
    for check in _CHECKS:
        found = check(head)
        if found is not None:
            return found
    return None


def _mpeg_frame(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


# Declared types whose signature is too short to detect by, but that the bytes must confirm.
_WEAK: dict[str, Callable[[bytes], bool]] = {
    "audio/mpeg": lambda h: _id3(h) or _mpeg_frame(h),
    "audio/mp3": lambda h: _id3(h) or _mpeg_frame(h),
    "audio/aac": lambda h: _id3(h) or (_mpeg_frame(h) and h[1] & 0x06 == 0),
    "audio/x-aac": lambda h: _id3(h) or (_mpeg_frame(h) and h[1] & 0x06 == 0),
}


def parse_media_type(value: str) -> tuple[str, str] | None:
    """A ``Content-Type`` value as (essence, full value), lower-case essence; None if invalid."""
    if len(value) > MAX_TYPE_LENGTH:
        return None
    match = _MEDIA_TYPE.match(value.strip())
    if match is None:
        return None
    essence = match.group(1).lower()
    params = re.sub(r"\s*;\s*", "; ", match.group(2)) if match.group(2) else ""
    return essence, essence + params


def essence_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def check_declared_type(essence: str, head: bytes) -> Decision:
    """Whether bytes starting with ``head`` may be stored as type ``essence``."""
    if essence == OPAQUE:
        return Decision.allow()
    found = detect(head)
    weak = _WEAK.get(essence)
    if found is not None:
        if found.fits(essence):
            return Decision.allow()
        return Decision.deny(
            f"The file is a {found.name} ({found.mime}), not {essence} as its Content-Type "
            "says. Upload it with its real type."
        )
    if weak is not None:
        if weak(head):
            return Decision.allow()
        return Decision.deny(f"The file is not {essence} data, as its Content-Type says.")
    for fmt in STRICT_FORMATS:
        if fmt.strict and fmt.fits(essence):
            return Decision.deny(
                f"The file is not a {fmt.name}, as its Content-Type ({essence}) says. Upload "
                f"it with its real type, or as {OPAQUE}."
            )
    return Decision.allow()


def valid_type_pattern(pattern: str) -> bool:
    """``*/*``, ``image/*`` or an exact ``type/subtype``."""
    return _PATTERN.match(pattern) is not None


def type_allowed(essence: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        p = pattern.lower()
        if p == "*/*" or p == essence or (p.endswith("/*") and essence.startswith(p[:-1])):
            return True
    return False


def check_allowed(essence: str, head: bytes, patterns: Iterable[str]) -> Decision:
    """The declared type and the type the bytes really have must both be allowed."""
    allowed = list(patterns)
    if not type_allowed(essence, allowed):
        return Decision.deny(f"Files of type {essence} may not be uploaded to this server.")
    found = detect(head)
    if found is not None and not type_allowed(found.mime, allowed):
        return Decision.deny(
            f"The file is a {found.name} ({found.mime}); such files may not be uploaded to "
            "this server."
        )
    return Decision.allow()


# Types the spec allows to be served inline ("serving inline content"); everything else is
# served as an attachment.
INLINE_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)
