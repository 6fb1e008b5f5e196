"""The content repository: authenticated media (``/_matrix/client/v1/media``), uploads
(``/_matrix/media/v3/upload``, ``/_matrix/media/v1/create``) and the legacy
``/_matrix/media/v3`` downloads.

The legacy downloads and thumbnails are unauthenticated in the spec. Spec v1.11 lets a server
freeze them; tumar serves them only with an access token, under the same rules as the
authenticated endpoints, and answers ``404 M_NOT_FOUND`` without one (as for media uploaded
after such a freeze). URL previews are switched off: the server fetches no outside pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from tumar.api.http import Auth, Svc, access_token, get_requester, ok
from tumar.core.media import Download
from tumar.core.requester import Requester
from tumar.errors import MatrixError, forbidden, invalid_param, not_found
from tumar.policy.media import valid_filename

router = APIRouter()  # mounted at the root: the paths span /_matrix/client and /_matrix/media

V1 = "/_matrix/client/v1/media"
V3 = "/_matrix/media/v3"

# Downloads are shown by clients, never as pages of this origin: no scripts, no plugins.
_CSP = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)


async def optional_requester(request: Request) -> Requester | None:
    """The requester if the request carries an access token, else None."""
    if access_token(request) is None:
        return None
    return await get_requester(request)


MaybeAuth = Annotated[Requester | None, Depends(optional_requester)]


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body in chunks; a client that goes away mid-upload is a client error, not
    a server one."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise MatrixError(400, "M_UNKNOWN", "The upload was interrupted.") from None


def _filename(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not valid_filename(value):
        raise invalid_param(
            "`filename` must be a file name of at most 255 characters, without control "
            "characters or slashes."
        )
    return value


def _send(download: Download) -> StreamingResponse:
    headers = {
        "Content-Length": str(download.reader.size),
        "Content-Disposition": download.disposition,
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Cache-Control": "private, max-age=86400",
    }
    return StreamingResponse(
        download.reader.chunks(), media_type=download.content_type, headers=headers
    )


def _legacy_requester(requester: Requester | None) -> Requester:
    if requester is None:
        raise not_found(
            "Unauthenticated media downloads are switched off on this server: use "
            f"{V1}/download or {V1}/thumbnail with an access token."
        )
    return requester


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise invalid_param("`width` and `height` must be positive integers.")


ThumbMethod = Literal["crop", "scale"]


# ---- uploads -------------------------------------------------------------------------------


@router.post(f"{V3}/upload")
async def upload(request: Request, svc: Svc, requester: Auth, filename: str | None = None) -> Any:
    content_type = svc.media.check_upload_headers(
        request.headers.get("content-type"), _declared_length(request)
    )
    mxc = await svc.media.do_upload(
        requester, _body(request), content_type=content_type, filename=_filename(filename)
    )
    return ok({"content_uri": mxc})


@router.put(f"{V3}/upload/{{server_name}}/{{media_id}}")
async def upload_to(
    request: Request,
    svc: Svc,
    requester: Auth,
    server_name: str,
    media_id: str,
    filename: str | None = None,
) -> Any:
    content_type = svc.media.check_upload_headers(
        request.headers.get("content-type"), _declared_length(request)
    )
    await svc.media.do_upload_to(
        requester,
        server_name,
        media_id,
        _body(request),
        content_type=content_type,
        filename=_filename(filename),
    )
    return ok({})


@router.post("/_matrix/media/v1/create")
async def create(svc: Svc, requester: Auth) -> Any:
    mxc, expires = await svc.media.do_create(requester)
    return ok({"content_uri": mxc, "unused_expires_at": expires})


# ---- authenticated media (v1.11) -----------------------------------------------------------


@router.get(f"{V1}/config")
@router.get(f"{V3}/config")
async def config(svc: Svc, requester: Auth) -> Any:
    return ok(svc.media.config())


@router.get(f"{V1}/download/{{server_name}}/{{media_id}}")
async def download(svc: Svc, requester: Auth, server_name: str, media_id: str) -> Any:
    return _send(await svc.media.download(requester, server_name, media_id))


@router.get(f"{V1}/download/{{server_name}}/{{media_id}}/{{file_name}}")
async def download_as(
    svc: Svc, requester: Auth, server_name: str, media_id: str, file_name: str
) -> Any:
    name = _filename(file_name)
    return _send(await svc.media.download(requester, server_name, media_id, name))


@router.get(f"{V1}/thumbnail/{{server_name}}/{{media_id}}")
async def thumbnail(
    svc: Svc,
    requester: Auth,
    server_name: str,
    media_id: str,
    width: Annotated[int, Query()],
    height: Annotated[int, Query()],
    method: ThumbMethod = "scale",
    animated: bool | None = None,
) -> Any:
    _check_size(width, height)
    return _send(
        await svc.media.thumbnail(
            requester, server_name, media_id, width=width, height=height, method=method
        )
    )


@router.get(f"{V1}/preview_url")
@router.get(f"{V3}/preview_url")
async def preview_url(requester: Auth, url: str) -> Any:
    raise forbidden(
        "URL previews are switched off on this server: it does not fetch outside web pages."
    )


# ---- legacy unauthenticated downloads (frozen: served only with an access token) -----------


@router.get(f"{V3}/download/{{server_name}}/{{media_id}}")
async def legacy_download(svc: Svc, requester: MaybeAuth, server_name: str, media_id: str) -> Any:
    user = _legacy_requester(requester)
    return _send(await svc.media.download(user, server_name, media_id))


@router.get(f"{V3}/download/{{server_name}}/{{media_id}}/{{file_name}}")
async def legacy_download_as(
    svc: Svc, requester: MaybeAuth, server_name: str, media_id: str, file_name: str
) -> Any:
    user = _legacy_requester(requester)
    name = _filename(file_name)
    return _send(await svc.media.download(user, server_name, media_id, name))


@router.get(f"{V3}/thumbnail/{{server_name}}/{{media_id}}")
async def legacy_thumbnail(
    svc: Svc,
    requester: MaybeAuth,
    server_name: str,
    media_id: str,
    width: Annotated[int, Query()],
    height: Annotated[int, Query()],
    method: ThumbMethod = "scale",
) -> Any:
    user = _legacy_requester(requester)
    _check_size(width, height)
    return _send(
        await svc.media.thumbnail(
            user, server_name, media_id, width=width, height=height, method=method
        )
    )
