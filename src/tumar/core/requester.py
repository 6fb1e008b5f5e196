"""Who is making a request: parsed once from the access token by the API layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Requester:
    user_id: str
    device_id: str
    is_admin: bool = False
    token_hash: str = ""
    ip: str | None = None
    user_agent: str | None = None  # as declared by the client (a hint, never proof)
