"""Helpers for media tests: real images made with Pillow, uploads and downloads."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from tests.support.harness import Api, User

UPLOAD = "/_matrix/media/v3/upload"
V1 = "/_matrix/client/v1/media"
V3 = "/_matrix/media/v3"


def png_bytes(width: int = 64, height: int = 48, *, alpha: bool = True) -> bytes:
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, (width, height))
    image.putdata(
        [
            (x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 128, 200)[: len(mode)]
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, *, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):
        for y in range(height):
            image.putpixel((x, y), (30, 30, 200))
    out = io.BytesIO()
    if orientation is None:
        image.save(out, "JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "Camera maker"  # metadata a thumbnail must not carry
        image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def media_path(mxc: str) -> tuple[str, str]:
    assert mxc.startswith("mxc://"), mxc
    server, _, media_id = mxc[len("mxc://") :].partition("/")
    return server, media_id


async def upload_raw(
    api: Api,
    user: User | None,
    data: Any,
    content_type: str | None = "application/octet-stream",
    *,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    hdrs = dict(headers or {})
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    params = {"filename": filename} if filename is not None else None
    return await api.raw("POST", UPLOAD, user=user, content=data, headers=hdrs, params=params)


async def upload(
    api: Api,
    user: User,
    data: bytes,
    content_type: str | None = "application/octet-stream",
    *,
    filename: str | None = None,
) -> str:
    resp = await upload_raw(api, user, data, content_type, filename=filename)
    assert resp.status_code == 200, resp.text
    uri = resp.json()["content_uri"]
    assert isinstance(uri, str)
    return uri


async def download(
    api: Api,
    user: User | None,
    mxc: str,
    *,
    file_name: str | None = None,
    base: str = V1,
) -> httpx.Response:
    server, media_id = media_path(mxc)
    path = f"{base}/download/{server}/{media_id}"
    if file_name is not None:
        path += f"/{file_name}"
    return await api.raw("GET", path, user=user)


async def thumbnail(
    api: Api,
    user: User | None,
    mxc: str,
    width: Any,
    height: Any,
    method: str | None = None,
    *,
    base: str = V1,
) -> httpx.Response:
    server, media_id = media_path(mxc)
    params: dict[str, Any] = {"width": width, "height": height}
    if method is not None:
        params["method"] = method
    return await api.raw("GET", f"{base}/thumbnail/{server}/{media_id}", user=user, params=params)
