"""Matrix identifiers, parsed once at the boundary into value types."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from tumar.errors import MatrixError

# Localparts we create: the spec's historical grammar (lower case, digits, ``._=-/+``).
_LOCALPART_RE = re.compile(r"^[a-z0-9._=\-/+]+$")
_SERVER_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
MAX_ID_LENGTH = 255
_OPAQUE_ALPHABET = string.ascii_letters


def invalid(kind: str, value: str) -> MatrixError:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return MatrixError(400, "M_INVALID_PARAM", f"{shown!r} is not a valid {kind}.")


def _split(sigil: str, value: str, kind: str) -> tuple[str, str]:
    if (
        not isinstance(value, str)
        or len(value.encode()) > MAX_ID_LENGTH
        or not value.startswith(sigil)
        or ":" not in value
    ):
        raise invalid(kind, str(value))
    local, _, server = value[1:].partition(":")
    if not local or not _SERVER_RE.match(server):
        raise invalid(kind, value)
    return local, server


@dataclass(frozen=True, slots=True, order=True)
class UserId:
    localpart: str
    server_name: str

    @classmethod
    def parse(cls, value: str) -> UserId:
        local, server = _split("@", value, "user id")
        # Accept historical user ids (any printable ASCII but ':'), as the spec asks.
        if any(not (0x21 <= ord(c) <= 0x7E) for c in local):
            raise invalid("user id", value)
        return cls(local, server)

    def __str__(self) -> str:
        return f"@{self.localpart}:{self.server_name}"


def valid_new_localpart(localpart: str) -> bool:
    return bool(_LOCALPART_RE.match(localpart))


@dataclass(frozen=True, slots=True)
class RoomId:
    opaque: str
    server_name: str

    @classmethod
    def parse(cls, value: str) -> RoomId:
        local, server = _split("!", value, "room id")
        return cls(local, server)

    @classmethod
    def generate(cls, server_name: str) -> RoomId:
        return cls("".join(secrets.choice(_OPAQUE_ALPHABET) for _ in range(18)), server_name)

    def __str__(self) -> str:
        return f"!{self.opaque}:{self.server_name}"


@dataclass(frozen=True, slots=True)
class RoomAlias:
    localpart: str
    server_name: str

    @classmethod
    def parse(cls, value: str) -> RoomAlias:
        local, server = _split("#", value, "room alias")
        return cls(local, server)

    def __str__(self) -> str:
        return f"#{self.localpart}:{self.server_name}"


def new_event_id() -> str:
    """Room version 11 event ids are ``$`` plus 43 url-safe base64 characters."""
    return "$" + secrets.token_urlsafe(32)[:43]


def valid_event_id(value: str) -> bool:
    return isinstance(value, str) and value.startswith("$") and 1 < len(value) <= MAX_ID_LENGTH


def new_device_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))
