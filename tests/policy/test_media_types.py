"""Detection of file formats from their first bytes, and the declared-type and allowed-type
checks built on it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tumar.policy.media_types import (
    check_allowed,
    check_declared_type,
    detect,
    parse_media_type,
    type_allowed,
    valid_type_pattern,
)


def _image(fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (8, 8)).save(out, fmt)
    return out.getvalue()


PE = b"MZ" + b"\x00" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 64

SAMPLES: list[tuple[str, bytes, str]] = [
    ("png", _image("PNG"), "image/png"),
    ("jpeg", _image("JPEG"), "image/jpeg"),
    ("gif", _image("GIF", "P"), "image/gif"),
    ("webp", _image("WEBP"), "image/webp"),
    ("bmp", _image("BMP"), "image/bmp"),
    ("tiff", _image("TIFF"), "image/tiff"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3", "application/pdf"),
    ("zip", b"PK\x03\x04" + b"\x00" * 26, "application/zip"),
    ("gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 6, "application/gzip"),
    ("mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
    ("mov", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
    ("heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
    ("m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
    ("webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
    ("ogg", b"OggS\x00\x02" + b"\x00" * 20, "audio/ogg"),
    ("flac", b"fLaC\x00\x00\x00\x22", "audio/flac"),
    ("wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    ("mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    ("exe", PE, "application/vnd.microsoft.portable-executable"),
    ("elf", b"\x7fELF\x02\x01\x01", "application/x-executable"),
    ("ole", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8, "application/x-ole-storage"),
    ("html", b"\xef\xbb\xbf\n  <!DOCTYPE html><html>", "text/html"),
    ("svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
]


@pytest.mark.parametrize(("name", "data", "mime"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_detect(name: str, data: bytes, mime: str) -> None:
    found = detect(data)
    assert found is not None and found.mime == mime


@pytest.mark.parametrize(
    "data", [b"", b"hello, world", b"MZ" + b"\x00" * 100, b"BM" + b"\x01" * 20, b"\xff\xfb\x90"]
)
def test_not_detected(data: bytes) -> None:
    assert detect(data) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=64, max_size=512))
def test_random_bytes_are_not_mistaken_for_a_format(data: bytes) -> None:
    # Ciphertext (encrypted attachments) is random: no short signature may match it.
    found = detect(data)
    assert found is None or data.startswith((b"\x00\x00\x01\x00", b"PK", b"\x1f\x8b"))


@pytest.mark.parametrize(
    ("declared", "data", "ok"),
    [
        # Opaque bytes fit anything.
        ("application/octet-stream", PE, True),
        # A declared type with a signature needs it.
        ("image/png", _image("PNG"), True),
        ("image/apng", _image("PNG"), True),
        ("image/jpg", _image("JPEG"), True),
        ("image/png", _image("JPEG"), False),
        ("image/png", PE, False),
        ("image/png", b"not an image", False),
        ("application/pdf", b"not a pdf", False),
        ("video/mp4", b"\x00\x00\x00\x14ftypqt  ", True),  # the ISO media family
        ("audio/x-m4a", b"\x00\x00\x00\x20ftypisom", True),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04" + b"\x00" * 26,
            True,
        ),
        ("application/vnd.oasis.opendocument.text", b"not a zip", False),
        # Weak signatures only confirm.
        ("audio/mpeg", b"\xff\xfb\x90\x00", True),
        ("audio/mpeg", b"ID3\x03\x00rest", True),
        ("audio/mpeg", b"plain text", False),
        # Types without a signature fit, unless the bytes are something else.
        ("text/plain", b"hello", True),
        ("text/csv", b"a,b\n1,2\n", True),
        ("application/vnd.ms-excel", b"a,b\n1,2\n", True),  # Windows names CSV files so
        ("text/plain", _image("PNG"), False),
        ("text/plain", b"<html><body>", False),
        ("application/x-custom", PE, False),
        ("text/html", b"<!doctype html>", True),
        ("image/svg+xml", b"<svg/>", True),
        ("application/x-msdownload", PE, True),
    ],
)
def test_check_declared_type(declared: str, data: bytes, ok: bool) -> None:
    verdict = check_declared_type(declared, data)
    assert bool(verdict) is ok, verdict.reason
    assert ok or verdict.reason


def test_parse_media_type() -> None:
    assert parse_media_type("image/PNG") == ("image/png", "image/png")
    assert parse_media_type("Text/Plain ;charset=UTF-8") == (
        "text/plain",
        "text/plain; charset=UTF-8",
    )
    assert parse_media_type('text/plain; name="a b"') == ("text/plain", 'text/plain; name="a b"')
    for bad in ("", "image", "image/", "/png", "a/b c", "a/b; x", "a/b\r\nX: y", "a/" + "b" * 300):
        assert parse_media_type(bad) is None, bad


def test_patterns() -> None:
    for good in ("*/*", "image/*", "application/pdf", "application/vnd.ms-excel"):
        assert valid_type_pattern(good)
    for bad in ("*", "image", "*/png", "image/*/x", "image/ png"):
        assert not valid_type_pattern(bad)
    assert type_allowed("image/png", ["image/*"])
    assert not type_allowed("imagex/png", ["image/*"])
    assert type_allowed("application/pdf", ["text/plain", "application/pdf"])
    assert type_allowed("anything/else", ["*/*"])
    assert not type_allowed("application/pdf", ["text/plain"])


def test_check_allowed_looks_behind_opaque_bytes() -> None:
    allowed = ["image/*", "application/octet-stream"]
    assert check_allowed("application/octet-stream", b"random", allowed)
    assert check_allowed("image/png", _image("PNG"), allowed)
    refused = check_allowed("application/octet-stream", PE, allowed)
    assert not refused and "Windows executable" in refused.reason
    assert not check_allowed("application/pdf", b"%PDF-", allowed)
