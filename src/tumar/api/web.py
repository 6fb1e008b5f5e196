"""tumar's own web app: ``index.html`` at ``/`` and the folder ``tumar/web`` at ``/static/``.

Every response carries a strict Content-Security-Policy (no inline scripts or styles, nothing
from other origins, no framing). Registered after every API router, so it never shadows
``/_matrix`` or ``/_tumar``. Files are revalidated with an ETag on every load, so a server
upgrade reaches the browser at once.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from tumar.errors import MatrixError

router = APIRouter(include_in_schema=False)
WEB_ROOT = (Path(__file__).resolve().parent.parent / "web").resolve()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}


@lru_cache(maxsize=256)
def _load(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _resolve(relative: str) -> Path | None:
    """The file under WEB_ROOT that ``relative`` names, or None (missing, a folder, hidden,
    outside the root, or of a type the app does not serve)."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    candidate = (WEB_ROOT / relative).resolve()
    if not candidate.is_relative_to(WEB_ROOT) or not candidate.is_file():
        return None
    parts = candidate.relative_to(WEB_ROOT).parts
    if any(p.startswith(".") for p in parts) or candidate.suffix not in TYPES:
        return None
    return candidate


def _serve(request: Request, path: Path) -> Response:
    data, etag = _load(path, path.stat().st_mtime_ns)
    headers = {**HEADERS, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else data
    response = Response(body, media_type=TYPES[path.suffix], headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(data))
    return response


@router.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request) -> Response:
    return _serve(request, WEB_ROOT / "index.html")


@router.api_route("/static/{relative:path}", methods=["GET", "HEAD"])
async def static(request: Request, relative: str) -> Response:
    path = _resolve(relative)
    if path is None:
        raise MatrixError(404, "M_NOT_FOUND", "There is no such file in the web app.")
    return _serve(request, path)
