"""Media decisions without I/O: media ids, the mxc URIs an event refers to, thumbnail sizes and
the ``Content-Disposition`` of a download."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tumar.policy.media_types import INLINE_TYPES, essence_of

MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_FILENAME_LENGTH = 255

# Where events carry mxc URIs: images, files, stickers and their thumbnails (plain and
# end-to-end encrypted form), member and room avatars, and the same inside an edit.
_URL_PATHS: tuple[tuple[str, ...], ...] = (
    ("url",),
    ("file", "url"),
    ("info", "thumbnail_url"),
    ("info", "thumbnail_file", "url"),
    ("avatar_url",),
)

# Thumbnail sizes the server produces (the sizes the spec recommends). A request gets the
# smallest one at least as large as asked for, or the largest; so at most ten thumbnails
# exist per image, whatever sizes clients ask for.
THUMBNAIL_SIZES: tuple[tuple[int, int], ...] = (
    (32, 32),
    (96, 96),
    (320, 240),
    (640, 480),
    (800, 600),
)
THUMBNAIL_METHODS = ("crop", "scale")

# Source types the server makes thumbnails of.
THUMBNAIL_SOURCES = frozenset(
    {"image/png", "image/apng", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
)


def valid_media_id(media_id: str) -> bool:
    return MEDIA_ID.match(media_id) is not None


def parse_mxc(uri: object) -> tuple[str, str] | None:
    """``mxc://server/media_id`` as (server, media_id); None if it is not one."""
    if not isinstance(uri, str) or not uri.startswith("mxc://"):
        return None
    server, sep, media_id = uri[len("mxc://") :].partition("/")
    if not sep or not server or not valid_media_id(media_id):
        return None
    return server, media_id


def _at(content: Mapping[str, Any], path: tuple[str, ...]) -> object:
    value: object = content
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def referenced_media(content: Mapping[str, Any], server_name: str) -> set[str]:
    """Ids of this server's media that an event's content refers to."""
    found: set[str] = set()
    new_content = content.get("m.new_content")
    for part in (content, new_content):
        if not isinstance(part, Mapping):
            continue
        for path in _URL_PATHS:
            parsed = parse_mxc(_at(part, path))
            if parsed is not None and parsed[0] == server_name:
                found.add(parsed[1])
    return found


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The produced size for a requested one: the smallest at least as large, or the largest."""
    for w, h in THUMBNAIL_SIZES:
        if w >= width and h >= height:
            return w, h
    return THUMBNAIL_SIZES[-1]


def valid_filename(name: str) -> bool:
    return (
        0 < len(name) <= MAX_FILENAME_LENGTH
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
        and "/" not in name
        and "\\" not in name
    )


def content_disposition(content_type: str, filename: str | None, *, inline: bool = False) -> str:
    """``inline`` for the types the spec lists as safe to show, else ``attachment``; with the
    file name (RFC 6266: quoted if plain ASCII, else ``filename*`` UTF-8)."""
    kind = "inline" if inline or essence_of(content_type) in INLINE_TYPES else "attachment"
    if not filename:
        return kind
    if all(0x20 <= ord(c) < 0x7F for c in filename) and '"' not in filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename*=utf-8''{quote(filename, safe='')}"
