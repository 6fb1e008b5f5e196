"""The content part of the room version 11 redaction algorithm. Pure: no I/O."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Content keys that survive redaction, per event type. Other types keep nothing.
KEPT_CONTENT_KEYS: Mapping[str, frozenset[str]] = {
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
    "m.room.join_rules": frozenset({"join_rule", "allow"}),
    "m.room.power_levels": frozenset(
        {
            "ban",
            "events",
            "events_default",
            "invite",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
        }
    ),
    "m.room.history_visibility": frozenset({"history_visibility"}),
    "m.room.redaction": frozenset({"redacts"}),
}

#: Event types whose whole content survives redaction.
KEEP_ALL_CONTENT = frozenset({"m.room.create"})


def _member_extras(content: Mapping[str, Any]) -> dict[str, Any]:
    """An m.room.member event keeps only the ``signed`` part of ``third_party_invite``."""
    invite = content.get("third_party_invite")
    if isinstance(invite, Mapping) and "signed" in invite:
        return {"third_party_invite": {"signed": invite["signed"]}}
    return {}


def redact_content(event_type: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """Return the redacted copy of ``content`` for an event of ``event_type`` (v11 rules).

    The input is not modified; kept values are deep-copied.
    """
    if event_type in KEEP_ALL_CONTENT:
        kept = dict(content)
    else:
        keys = KEPT_CONTENT_KEYS.get(event_type, frozenset())
        kept = {key: value for key, value in content.items() if key in keys}
        if event_type == "m.room.member":
            kept.update(_member_extras(content))
    return copy.deepcopy(kept)
