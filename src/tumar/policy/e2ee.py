"""Whether end-to-end encryption is ``allowed``, ``required`` or ``forbidden``. Pure.

The server never decrypts; what it can decide is which events it accepts:

- ``forbidden``: no ``m.room.encryption`` state (so no client turns encryption on) and no
  ``m.room.encrypted`` events; the server keeps the text and protects it itself.
- ``required``: new rooms are created with ``m.room.encryption`` (Megolm), and the encryption
  state can be neither removed, weakened nor redacted.
- ``allowed``: clients choose.

The mode is a global default now; classification labels will choose it per room later, and
these functions stay the same (they take the mode as input).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

E2eeMode = Literal["allowed", "required", "forbidden"]

ENCRYPTION = "m.room.encryption"
ENCRYPTED = "m.room.encrypted"
MEGOLM = "m.megolm.v1.aes-sha2"
FORBIDDEN_ERRCODE = "TUMAR_E2EE_FORBIDDEN"
REQUIRED_ERRCODE = "TUMAR_E2EE_REQUIRED"


@dataclass(frozen=True, slots=True)
class E2eeDecision:
    allowed: bool
    reason: str = ""
    errcode: str = ""

    def __bool__(self) -> bool:
        return self.allowed


class _Kind(Enum):
    ENCRYPTED_EVENT = "an encrypted event"
    ENCRYPTION_ON = "m.room.encryption with Megolm"
    ENCRYPTION_OTHER = "m.room.encryption without the Megolm algorithm"
    ENCRYPTION_REDACTION = "a redaction of m.room.encryption"
    OTHER = "any other event"


_ALLOW = E2eeDecision(True)
_FORBIDDEN = E2eeDecision(
    False,
    "End-to-end encryption is forbidden on this server: the server keeps and protects the "
    "text of these rooms itself. Send the message unencrypted.",
    FORBIDDEN_ERRCODE,
)
_REQUIRED = E2eeDecision(
    False,
    f"End-to-end encryption is required on this server: a room's encryption ({MEGOLM}) "
    "cannot be removed, changed or redacted.",
    REQUIRED_ERRCODE,
)

# (mode, kind) -> decision. Anything not listed is allowed.
_TABLE: dict[tuple[E2eeMode, _Kind], E2eeDecision] = {
    ("forbidden", _Kind.ENCRYPTED_EVENT): _FORBIDDEN,
    ("forbidden", _Kind.ENCRYPTION_ON): _FORBIDDEN,
    ("forbidden", _Kind.ENCRYPTION_OTHER): _FORBIDDEN,
    ("required", _Kind.ENCRYPTION_OTHER): _REQUIRED,
    ("required", _Kind.ENCRYPTION_REDACTION): _REQUIRED,
}


def _kind(event_type: str, state_key: str | None, content: Mapping[str, Any]) -> _Kind:
    if event_type == ENCRYPTED:
        return _Kind.ENCRYPTED_EVENT
    if event_type == ENCRYPTION:
        if state_key == "" and content.get("algorithm") == MEGOLM:
            return _Kind.ENCRYPTION_ON
        return _Kind.ENCRYPTION_OTHER
    return _Kind.OTHER


def check_event(
    mode: E2eeMode, event_type: str, state_key: str | None, content: Mapping[str, Any]
) -> E2eeDecision:
    """May an event of this type and content be sent (or be part of a new room's state)?"""
    return _TABLE.get((mode, _kind(event_type, state_key, content)), _ALLOW)


def check_redaction(mode: E2eeMode, target_type: str, target_state_key: str | None) -> E2eeDecision:
    """May an event of ``target_type`` be redacted? (Redacting ``m.room.encryption`` would
    empty its content, which turns encryption off.)"""
    if target_type == ENCRYPTION and target_state_key is not None:
        return _TABLE.get((mode, _Kind.ENCRYPTION_REDACTION), _ALLOW)
    return _ALLOW


def encryption_for_new_room(
    mode: E2eeMode, initial_state: Iterable[tuple[str, str | None]]
) -> dict[str, Any] | None:
    """The ``m.room.encryption`` content a new room must get, if the creator's initial state
    does not already set it: Megolm in ``required`` mode, nothing otherwise."""
    if mode != "required":
        return None
    if any(t == ENCRYPTION and key == "" for t, key in initial_state):
        return None
    return {"algorithm": MEGOLM}
