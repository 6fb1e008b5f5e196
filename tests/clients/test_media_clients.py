"""Media between real clients: matrix-nio uploads an image and posts it; matrix-nio downloads it
back; matrix-js-sdk (``tests/js/media.mjs``) receives the event and downloads the image and a
thumbnail through the authenticated media endpoints, as Element does.
"""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from nio import (
    AsyncClient,
    DownloadError,
    JoinResponse,
    LoginResponse,
    MemoryDownloadResponse,
    RoomCreateResponse,
    RoomSendResponse,
    ThumbnailResponse,
    UploadResponse,
)
from PIL import Image

from tests.support.harness import PASSWORD, Api, LiveServer
from tests.support.js import require_node, run_scenario
from tests.support.media import jpeg_bytes

pytestmark = [pytest.mark.slow, pytest.mark.node]

NODE_TIMEOUT_S = 90


async def _nio_login(url: str, localpart: str) -> AsyncClient:
    client = AsyncClient(url, f"@{localpart}:tumar.test")
    login = await client.login(PASSWORD, device_name="nio")
    assert isinstance(login, LoginResponse), login
    return client


async def test_nio_uploads_and_js_sdk_downloads(live_server: LiveServer) -> None:
    require_node()
    image = jpeg_bytes(640, 480)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        api = Api(http)
        await api.register("alice")
        bob = await api.register("bob")
        await api.register("carol")

        alice_nio = await _nio_login(live_server.url, "alice")
        carol_nio = await _nio_login(live_server.url, "carol")
        try:
            created = await alice_nio.room_create(name="Photos", invite=[bob.user_id])
            assert isinstance(created, RoomCreateResponse), created
            room_id = created.room_id
            await api.join(bob, room_id)

            uploaded, keys = await alice_nio.upload(
                io.BytesIO(image),
                content_type="image/jpeg",
                filename="holiday.jpg",
                filesize=len(image),
            )
            assert isinstance(uploaded, UploadResponse), uploaded
            assert keys is None
            mxc = uploaded.content_uri
            sent = await alice_nio.room_send(
                room_id,
                "m.room.message",
                {
                    "msgtype": "m.image",
                    "body": "holiday.jpg",
                    "url": mxc,
                    "info": {"mimetype": "image/jpeg", "size": len(image), "w": 640, "h": 480},
                },
            )
            assert isinstance(sent, RoomSendResponse), sent

            # nio downloads through the authenticated endpoint too.
            back = await alice_nio.download(mxc=mxc)
            assert isinstance(back, MemoryDownloadResponse), back
            assert back.body == image
            assert back.content_type == "image/jpeg"
            assert back.filename == "holiday.jpg"
            thumb = await alice_nio.thumbnail("tumar.test", mxc.rsplit("/", 1)[1], 320, 240)
            assert isinstance(thumb, ThumbnailResponse), thumb
            assert Image.open(io.BytesIO(thumb.body)).size == (320, 240)

            # Carol is in no room with the image: refused.
            refused = await carol_nio.download(mxc=mxc)
            assert isinstance(refused, DownloadError), refused
            assert refused.status_code == "M_FORBIDDEN"
            joined = await carol_nio.join(room_id)
            assert not isinstance(joined, JoinResponse)  # the room is invite-only
        finally:
            await alice_nio.close()
            await carol_nio.close()

        result = await run_scenario(
            "media",
            {
                "TUMAR_HS_URL": live_server.url,
                "TUMAR_USER_ID": bob.user_id,
                "TUMAR_USER_TOKEN": bob.token,
                "TUMAR_USER_DEVICE": bob.device_id,
                "TUMAR_ROOM_ID": room_id,
                "TUMAR_EVENT_ID": sent.event_id,
            },
            timeout_s=NODE_TIMEOUT_S,
        )

    assert result["authenticated"] is True  # /versions lists v1.11
    assert result["mxc"] == mxc
    assert (result["msgtype"], result["body"]) == ("m.image", "holiday.jpg")
    assert result["file_path"].startswith("/_matrix/client/v1/media/download/tumar.test/")
    file = result["file"]
    assert file["status"] == 200
    assert file["sha256"] == hashlib.sha256(image).hexdigest()
    assert file["size"] == len(image)
    assert file["content_type"] == "image/jpeg"
    assert file["disposition"] == 'inline; filename="holiday.jpg"'
    thumbnail = result["thumbnail"]
    assert thumbnail["status"] == 200
    assert (thumbnail["content_type"], thumbnail["format"]) == ("image/jpeg", "jpeg")
    assert (thumbnail["width"], thumbnail["height"]) == (96, 96)
    assert result["anonymous_status"] == 401
    assert result["legacy_path"].startswith("/_matrix/media/v3/download/")
    assert result["legacy_status"] == 404
