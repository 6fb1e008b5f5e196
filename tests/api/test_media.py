"""The content repository through the API, on both backends: uploads and downloads (the
authenticated v1 endpoints and the legacy v3 ones), thumbnails of real PNG and JPEG images,
media ids made before their upload, bad input that changes nothing, and restarts.

Who may see which media is in ``test_media_access.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from tests.support.harness import Api
from tests.support.media import (
    UPLOAD,
    V1,
    V3,
    download,
    image_of,
    jpeg_bytes,
    media_path,
    png_bytes,
    thumbnail,
    upload,
    upload_raw,
)
from tumar.app import build_app
from tumar.clock import Clock, FakeClock
from tumar.config import Settings
from tumar.core.services import build_services
from tumar.store.schema import media, media_refs


@asynccontextmanager
async def media_api(
    settings: Settings, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Api]:
    """An API client on its own services with changed settings (limits, allowed types)."""
    changed = settings.model_copy(update=overrides)
    services = build_services(changed, clock=clock)
    await services.start()
    try:
        async with Api.in_process(build_app(changed, services), services) as api:
            yield api
    finally:
        await services.close()


def stored_files(settings: Settings) -> list[str]:
    root = settings.effective_media_dir
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def media_rows(api: Api) -> list[tuple[Any, ...]]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = (await conn.execute(select(media))).all()
        refs = (await conn.execute(select(media_refs))).all()
    return sorted((tuple(r) for r in [*rows, *refs]), key=repr)


# ---- round trip ------------------------------------------------------------------------------


async def test_upload_and_download_round_trip(api: Api, settings: Settings) -> None:
    alice = await api.register("alice")
    data = png_bytes(40, 30)
    mxc = await upload(api, alice, data, "image/png", filename="cat.png")
    server, media_id = media_path(mxc)
    assert server == "tumar.test" and len(media_id) >= 20

    resp = await download(api, alice, mxc)
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["content-disposition"] == 'inline; filename="cat.png"'
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"].startswith("private")

    renamed = await download(api, alice, mxc, file_name="photo.png")
    assert renamed.content == data
    assert renamed.headers["content-disposition"] == 'inline; filename="photo.png"'

    # The legacy endpoint answers with an access token, under the same rules.
    legacy = await download(api, alice, mxc, base=V3)
    assert legacy.status_code == 200 and legacy.content == data
    legacy_named = await download(api, alice, mxc, base=V3, file_name="x.png")
    assert legacy_named.headers["content-disposition"] == 'inline; filename="x.png"'

    # The bytes are in the media directory under the data directory, nowhere else.
    files = stored_files(settings)
    assert len(files) == 1 and files[0].endswith(media_id)
    assert (settings.data_dir / "media").is_dir()
    rows = await media_rows(api)
    assert len(rows) == 1
    assert hashlib.sha256(data).hexdigest() in rows[0]


async def test_download_headers_by_type(api: Api) -> None:
    alice = await api.register("alice")
    # No Content-Type: stored as opaque bytes, offered as an attachment without a name.
    blob = os.urandom(5000)
    mxc = await upload(api, alice, blob, None)
    resp = await download(api, alice, mxc)
    assert resp.content == blob
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"] == "attachment"

    # Not on the spec's inline list: an attachment; a non-ASCII name in RFC 6266 form.
    pdf = b"%PDF-1.7\n" + b"0" * 100
    mxc = await upload(api, alice, pdf, "application/pdf", filename="Отчёт 2024.pdf")
    resp = await download(api, alice, mxc)
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == (
        "attachment; filename*=utf-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%202024.pdf"
    )

    # Text keeps its charset; an empty file is a file too.
    text = "Сәлем, әлем\n".encode()
    mxc = await upload(api, alice, text, "text/plain; charset=utf-8", filename="hello.txt")
    resp = await download(api, alice, mxc)
    assert resp.content == text
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.headers["content-disposition"] == 'inline; filename="hello.txt"'
    empty = await upload(api, alice, b"", "text/plain")
    assert (await download(api, alice, empty)).content == b""


async def test_config_and_preview_url(api: Api) -> None:
    alice = await api.register("alice")
    for base in (V1, V3):
        assert await api.call("GET", f"{base}/config", user=alice) == {
            "m.upload.size": 50 * 1024 * 1024
        }
        await api.error("GET", f"{base}/config", 401, "M_MISSING_TOKEN")
        await api.error(
            "GET",
            f"{base}/preview_url",
            403,
            "M_FORBIDDEN",
            user=alice,
            params={"url": "https://example.org/"},
        )
        await api.error("GET", f"{base}/preview_url", 400, "M_INVALID_PARAM", user=alice)
        await api.error(
            "GET", f"{base}/preview_url", 401, "M_MISSING_TOKEN", params={"url": "https://x.y/"}
        )


async def test_authentication_is_required(api: Api) -> None:
    alice = await api.register("alice")
    mxc = await upload(api, alice, png_bytes(), "image/png")
    server, media_id = media_path(mxc)
    await api.error("POST", UPLOAD, 401, "M_MISSING_TOKEN", content=b"x")
    await api.error("GET", f"{V1}/download/{server}/{media_id}", 401, "M_MISSING_TOKEN")
    await api.error(
        "GET",
        f"{V1}/download/{server}/{media_id}",
        401,
        "M_MISSING_TOKEN",
        headers={"Authorization": "Basic abc"},
    )
    await api.error(
        "GET",
        f"{V1}/thumbnail/{server}/{media_id}",
        401,
        "M_MISSING_TOKEN",
        params={"width": 32, "height": 32},
    )
    # The legacy downloads are frozen for requests without a token.
    body = await api.error("GET", f"{V3}/download/{server}/{media_id}", 404, "M_NOT_FOUND")
    assert "access token" in body["error"]
    await api.error("GET", f"{V3}/download/{server}/{media_id}/a.png", 404, "M_NOT_FOUND")
    await api.error(
        "GET",
        f"{V3}/thumbnail/{server}/{media_id}",
        404,
        "M_NOT_FOUND",
        params={"width": 32, "height": 32},
    )


async def test_unknown_media(api: Api) -> None:
    alice = await api.register("alice")
    await upload(api, alice, b"something", "text/plain")
    for path in (
        "tumar.test/AAAAAAAAAAAAAAAAAAAAAAAA",
        "elsewhere.example/AAAAAAAAAAAAAAAAAAAAAAAA",
        "tumar.test/has.dot",
    ):
        await api.error("GET", f"{V1}/download/{path}", 404, "M_NOT_FOUND", user=alice)
        await api.error("GET", f"{V3}/download/{path}", 404, "M_NOT_FOUND", user=alice)
        await api.error(
            "GET",
            f"{V1}/thumbnail/{path}",
            404,
            "M_NOT_FOUND",
            user=alice,
            params={"width": 32, "height": 32},
        )


# ---- thumbnails ------------------------------------------------------------------------------


async def test_thumbnails_of_png(api: Api, settings: Settings) -> None:
    alice = await api.register("alice")
    mxc = await upload(api, alice, png_bytes(1000, 600), "image/png")

    scaled = await thumbnail(api, alice, mxc, 300, 200, "scale")
    assert scaled.status_code == 200, scaled.text
    assert scaled.headers["content-type"] == "image/png"
    assert scaled.headers["content-disposition"] == 'inline; filename="thumbnail.png"'
    image = image_of(scaled.content)
    assert image.format == "PNG"
    assert image.size == (320, 192)  # the 320x240 size, aspect ratio kept
    assert image.mode == "RGBA"  # transparency kept

    cropped = await thumbnail(api, alice, mxc, 64, 64, "crop")
    assert image_of(cropped.content).size == (96, 96)  # the next size up, cut to a square
    # A centred square: the crop starts 200 pixels in (the red channel grows along x).
    assert 45 <= image_of(cropped.content).getpixel((0, 0))[0] <= 58

    default = await thumbnail(api, alice, mxc, 800, 600)  # method defaults to scale
    assert image_of(default.content).size == (800, 480)
    huge = await thumbnail(api, alice, mxc, 5000, 5000, "scale")
    assert image_of(huge.content).size == (800, 480)  # the largest size

    # Made once, then served from the storage: asking again gives the same bytes.
    files = stored_files(settings)
    again = await thumbnail(api, alice, mxc, 310, 230, "scale")
    assert again.content == scaled.content
    assert stored_files(settings) == files

    legacy = await thumbnail(api, alice, mxc, 300, 200, "scale", base=V3)
    assert legacy.content == scaled.content


async def test_thumbnails_of_jpeg_are_upright_and_without_metadata(api: Api) -> None:
    alice = await api.register("alice")
    # 400x200 as stored, EXIF orientation 6: shown rotated, 200 wide and 400 high.
    mxc = await upload(api, alice, jpeg_bytes(400, 200, orientation=6), "image/jpeg")
    resp = await thumbnail(api, alice, mxc, 320, 240, "scale")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["content-disposition"] == 'inline; filename="thumbnail.jpg"'
    image = image_of(resp.content)
    assert image.format == "JPEG"
    assert image.size == (120, 240)
    assert dict(image.getexif()) == {}

    crop = image_of((await thumbnail(api, alice, mxc, 32, 32, "crop")).content)
    assert crop.size == (32, 32)


async def test_small_images_are_not_enlarged(api: Api) -> None:
    alice = await api.register("alice")
    mxc = await upload(api, alice, png_bytes(20, 10), "image/png")
    assert image_of((await thumbnail(api, alice, mxc, 96, 96, "scale")).content).size == (20, 10)
    # Cropped to the requested aspect ratio, but not scaled up.
    assert image_of((await thumbnail(api, alice, mxc, 96, 96, "crop")).content).size == (10, 10)


async def test_other_image_formats(api: Api) -> None:
    alice = await api.register("alice")
    for fmt, content_type in (("GIF", "image/gif"), ("WEBP", "image/webp"), ("BMP", "image/bmp")):
        source = image_of(png_bytes(200, 100, alpha=False))
        out = io.BytesIO()
        source.save(out, fmt)
        mxc = await upload(api, alice, out.getvalue(), content_type)
        resp = await thumbnail(api, alice, mxc, 96, 96, "scale")
        assert resp.status_code == 200, (fmt, resp.text)
        assert resp.headers["content-type"] == "image/png"
        assert image_of(resp.content).size == (96, 48)


async def test_bad_thumbnail_requests(api: Api, settings: Settings) -> None:
    alice = await api.register("alice")
    mxc = await upload(api, alice, png_bytes(), "image/png")
    server, media_id = media_path(mxc)
    path = f"{V1}/thumbnail/{server}/{media_id}"
    for params in (
        {"width": 0, "height": 32},
        {"width": 32, "height": -1},
        {"width": "wide", "height": 32},
        {"width": 32},
        {"height": 32},
        {"width": 32, "height": 32, "method": "stretch"},
        {"width": 32, "height": 32, "animated": "maybe"},
    ):
        await api.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params=params)

    # Not an image the server makes thumbnails of.
    pdf = await upload(api, alice, b"%PDF-1.4\n%%EOF", "application/pdf")
    body = (await thumbnail(api, alice, pdf, 32, 32)).json()
    assert body["errcode"] == "M_UNKNOWN" and "thumbnail" in body["error"]
    # A PNG signature followed by garbage: stored (the bytes do say PNG), but unreadable.
    broken = await upload(api, alice, b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "image/png")
    resp = await thumbnail(api, alice, broken, 32, 32)
    assert (resp.status_code, resp.json()["errcode"]) == (400, "M_UNKNOWN")
    # A small file that decodes to 49 million pixels is not decoded.
    bomb = Image.new("1", (7000, 7000))
    out = io.BytesIO()
    bomb.save(out, "PNG")
    assert len(out.getvalue()) < 100_000
    big = await upload(api, alice, out.getvalue(), "image/png")
    resp = await thumbnail(api, alice, big, 32, 32)
    assert (resp.status_code, resp.json()["errcode"]) == (413, "M_TOO_LARGE")
    # None of the refusals left a thumbnail behind.
    assert not [f for f in stored_files(settings) if f.startswith("objects/thumbnail")]


# ---- bad uploads -----------------------------------------------------------------------------


async def test_bad_uploads_are_refused_and_change_nothing(settings: Settings) -> None:
    async with media_api(
        settings,
        media_max_upload_bytes=10_000,
        media_allowed_types=["image/*", "text/plain", "application/octet-stream"],
    ) as api:
        alice = await api.register("alice")
        files_before = stored_files(settings)
        rows_before = await media_rows(api)

        async def refused(
            data: Any, content_type: str | None, status: int, errcode: str, **kw: Any
        ) -> str:
            resp = await upload_raw(api, alice, data, content_type, **kw)
            body = resp.json()
            assert (resp.status_code, body.get("errcode")) == (status, errcode), resp.text
            assert isinstance(body["error"], str) and body["error"]
            return str(body["error"])

        # Too large: by the declared length, and while streaming without one.
        await refused(b"x" * 10_001, "text/plain", 413, "M_TOO_LARGE")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"y" * 1000

        await refused(chunks(), "text/plain", 413, "M_TOO_LARGE")
        # A lying Content-Length does not get past the limit either.
        await refused(chunks(), "text/plain", 413, "M_TOO_LARGE", headers={"Content-Length": "10"})

        # Forged content types: the bytes decide.
        png = png_bytes()
        error = await refused(png, "image/jpeg", 400, "TUMAR_CONTENT_TYPE_MISMATCH")
        assert "PNG image" in error and "image/jpeg" in error
        await refused(png, "text/plain", 400, "TUMAR_CONTENT_TYPE_MISMATCH")
        exe = b"MZ" + b"\x00" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 100
        error = await refused(exe, "image/png", 400, "TUMAR_CONTENT_TYPE_MISMATCH")
        assert "Windows executable" in error
        await refused(b"just some text", "image/png", 400, "TUMAR_CONTENT_TYPE_MISMATCH")
        await refused(
            b"<html><script>alert(1)</script>", "text/plain", 400, "TUMAR_CONTENT_TYPE_MISMATCH"
        )

        # Types the server does not accept: declared, or detected behind opaque bytes.
        await refused(b"%PDF-1.7\n", "application/pdf", 403, "M_FORBIDDEN")
        error = await refused(b"%PDF-1.7\n", "application/octet-stream", 403, "M_FORBIDDEN")
        assert "application/pdf" in error
        error = await refused(b"<!DOCTYPE html>", "application/octet-stream", 403, "M_FORBIDDEN")
        assert "text/html" in error

        # Malformed requests.
        await refused(b"x", "not a media type", 400, "M_INVALID_PARAM")
        await refused(b"x", "text/plain", 400, "M_INVALID_PARAM", filename="a\x01b")
        await refused(b"x", "text/plain", 400, "M_INVALID_PARAM", filename="../etc/passwd")
        await refused(b"x", "text/plain", 400, "M_INVALID_PARAM", filename="n" * 256)

        assert await media_rows(api) == rows_before
        assert stored_files(settings) == files_before

        # What is allowed still works, up to the limit exactly.
        assert await upload(api, alice, b"z" * 10_000, "text/plain")
        assert await upload(api, alice, png, "image/png")
        assert await upload(api, alice, os.urandom(2000), "application/octet-stream")
        assert (await api.call("GET", f"{V1}/config", user=alice))["m.upload.size"] == 10_000


def test_allowed_types_are_validated() -> None:
    with pytest.raises(ValueError, match="media_allowed_types"):
        Settings(media_allowed_types=["images"])
    with pytest.raises(ValueError, match="media_allowed_types"):
        Settings(media_allowed_types=["*/png"])
    assert Settings(media_allowed_types=["Image/*"]).media_allowed_types == ["image/*"]


# ---- media ids made before their upload (/media/v1/create) ------------------------------------


async def test_create_then_upload(settings: Settings) -> None:
    clock = FakeClock()
    async with media_api(settings, clock=clock) as api:
        alice = await api.register("alice")
        bob = await api.register("bob")
        created = await api.call("POST", "/_matrix/media/v1/create", user=alice, json={})
        mxc = created["content_uri"]
        assert created["unused_expires_at"] == clock.now_ms() + 24 * 3600 * 1000
        server, media_id = media_path(mxc)
        put = f"{V3}/upload/{server}/{media_id}"

        resp = await download(api, alice, mxc)
        assert (resp.status_code, resp.json()["errcode"]) == (504, "M_NOT_YET_UPLOADED")

        data = jpeg_bytes()
        headers = {"Content-Type": "image/jpeg"}
        await api.error("PUT", put, 403, "M_FORBIDDEN", user=bob, content=data, headers=headers)
        await api.error(
            "PUT",
            put,
            400,
            "TUMAR_CONTENT_TYPE_MISMATCH",
            user=alice,
            content=b"no",
            headers=headers,
        )
        assert (
            await api.call(
                "PUT", put, user=alice, content=data, headers=headers, params={"filename": "a.jpg"}
            )
            == {}
        )
        await api.error(
            "PUT",
            put,
            409,
            "M_CANNOT_OVERWRITE_MEDIA",
            user=alice,
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
        resp = await download(api, alice, mxc)
        assert resp.content == data
        assert resp.headers["content-disposition"] == 'inline; filename="a.jpg"'

        # A plain upload's id cannot be uploaded to again either.
        other = await upload(api, alice, b"hello", "text/plain")
        _, other_id = media_path(other)
        await api.error(
            "PUT",
            f"{V3}/upload/{server}/{other_id}",
            409,
            "M_CANNOT_OVERWRITE_MEDIA",
            user=alice,
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
        for unknown in (f"{server}/AAAAAAAAAAAAAAAAAAAAAAAA", f"elsewhere.example/{media_id}"):
            await api.error(
                "PUT", f"{V3}/upload/{unknown}", 404, "M_NOT_FOUND", user=alice, content=b"x"
            )

        # At most ten ids may wait for their upload; expired ones no longer count.
        for _ in range(10):
            await api.call("POST", "/_matrix/media/v1/create", user=alice, json={})
        body = await api.error(
            "POST", "/_matrix/media/v1/create", 429, "M_LIMIT_EXCEEDED", user=alice, json={}
        )
        assert body["retry_after_ms"] > 0
        waiting = await api.call("POST", "/_matrix/media/v1/create", user=bob, json={})
        clock.advance(24 * 3600 + 1)
        _, waiting_id = media_path(waiting["content_uri"])
        await api.error(
            "PUT",
            f"{V3}/upload/{server}/{waiting_id}",
            404,
            "M_NOT_FOUND",
            user=bob,
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
        await api.call("POST", "/_matrix/media/v1/create", user=alice, json={})


# ---- restarts ----------------------------------------------------------------------------------


async def test_media_survive_a_restart(settings: Settings) -> None:
    data = png_bytes(300, 200)
    async with media_api(settings) as api:
        alice = await api.register("alice")
        mxc = await upload(api, alice, data, "image/png", filename="kept.png")
        first_thumb = (await thumbnail(api, alice, mxc, 96, 96, "crop")).content
    async with media_api(settings) as api:
        alice = await api.login("alice")
        resp = await download(api, alice, mxc)
        assert resp.content == data
        assert resp.headers["content-disposition"] == 'inline; filename="kept.png"'
        assert (await thumbnail(api, alice, mxc, 96, 96, "crop")).content == first_thumb
        assert (await thumbnail(api, alice, mxc, 320, 240, "scale")).status_code == 200


async def test_media_dir_option(settings: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "volume"
    async with media_api(settings, media_dir=elsewhere) as api:
        alice = await api.register("alice")
        mxc = await upload(api, alice, b"on another volume", "text/plain")
        assert (await download(api, alice, mxc)).content == b"on another volume"
    assert [p.name for p in elsewhere.rglob("*") if p.is_file()] == [media_path(mxc)[1]]
    assert not (settings.data_dir / "media").exists()
