"""The spec's predefined ("server-default") push rules for one user.

Pure code: no I/O. Rule ids, kinds, order, conditions and actions follow the Matrix spec's
"Predefined Rules" section (Client-Server API, Push Notifications module). Only current actions
are used (``notify`` and ``set_tweak``); the deprecated ``dont_notify``/``coalesce`` never appear,
and "do nothing" is an empty action list.

``legacy_mentions`` controls the three body-text mention rules (``.m.rule.contains_display_name``,
``.m.rule.roomnotif``, ``.m.rule.contains_user_name``). They were deprecated in spec v1.7 in
favour of ``m.mentions`` and removed from the predefined list in v1.17 (MSC4210); they are kept
by default because many deployed clients still send mentions only in the message body.
"""

from __future__ import annotations

from typing import Any

__all__ = ["URGENT_NOTICE", "default_push_rules", "localpart"]

URGENT_NOTICE = ".kz.tumar.rule.urgent_notice"

_SOUND_DEFAULT: dict[str, Any] = {"set_tweak": "sound", "value": "default"}
_SOUND_RING: dict[str, Any] = {"set_tweak": "sound", "value": "ring"}
_HIGHLIGHT: dict[str, Any] = {"set_tweak": "highlight"}


def localpart(user_id: str) -> str:
    """The localpart of ``@localpart:server``; ``ValueError`` if ``user_id`` is not of that form."""
    if not user_id.startswith("@") or ":" not in user_id:
        raise ValueError(f"not a Matrix user ID: {user_id!r}")
    local = user_id[1:].split(":", 1)[0]
    if not local:
        raise ValueError(f"not a Matrix user ID: {user_id!r}")
    return local


def _match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _is(key: str, value: str | bool) -> dict[str, Any]:
    return {"kind": "event_property_is", "key": key, "value": value}


def _rule(
    rule_id: str,
    conditions: list[dict[str, Any]],
    actions: list[Any],
    *,
    enabled: bool = True,
) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "default": True,
        "enabled": enabled,
        "conditions": conditions,
        "actions": actions,
    }


def _override(user_id: str, legacy_mentions: bool) -> list[dict[str, Any]]:
    room_permission = {"kind": "sender_notification_permission", "key": "room"}
    rules = [
        _rule(".m.rule.master", [], [], enabled=False),
        # tumar's own (issue 7): an urgent government notification notifies and highlights,
        # although it is an m.notice; only a sender with the room's notification power level
        # (the system account in notice rooms) can raise it.
        _rule(
            URGENT_NOTICE,
            [
                _match("type", "m.room.message"),
                _is("content.kz\\.tumar\\.notification.priority", "urgent"),
                dict(room_permission),
            ],
            ["notify", dict(_SOUND_DEFAULT), dict(_HIGHLIGHT)],
        ),
        _rule(".m.rule.suppress_notices", [_match("content.msgtype", "m.notice")], []),
        _rule(
            ".m.rule.invite_for_me",
            [
                _match("type", "m.room.member"),
                _match("content.membership", "invite"),
                _match("state_key", user_id),
            ],
            ["notify", dict(_SOUND_DEFAULT)],
        ),
        _rule(".m.rule.member_event", [_match("type", "m.room.member")], []),
        _rule(
            ".m.rule.is_user_mention",
            [
                {
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user_id,
                }
            ],
            ["notify", dict(_SOUND_DEFAULT), dict(_HIGHLIGHT)],
        ),
    ]
    if legacy_mentions:
        rules.append(
            _rule(
                ".m.rule.contains_display_name",
                [{"kind": "contains_display_name"}],
                ["notify", dict(_SOUND_DEFAULT), dict(_HIGHLIGHT)],
            )
        )
    rules.append(
        _rule(
            ".m.rule.is_room_mention",
            [_is("content.m\\.mentions.room", True), dict(room_permission)],
            ["notify", dict(_HIGHLIGHT)],
        )
    )
    if legacy_mentions:
        rules.append(
            _rule(
                ".m.rule.roomnotif",
                [_match("content.body", "@room"), dict(room_permission)],
                ["notify", dict(_HIGHLIGHT)],
            )
        )
    rules += [
        _rule(
            ".m.rule.tombstone",
            [_match("type", "m.room.tombstone"), _match("state_key", "")],
            ["notify", dict(_HIGHLIGHT)],
        ),
        _rule(".m.rule.reaction", [_match("type", "m.reaction")], []),
        _rule(
            ".m.rule.room.server_acl",
            [_match("type", "m.room.server_acl"), _match("state_key", "")],
            [],
        ),
        _rule(".m.rule.suppress_edits", [_is("content.m\\.relates_to.rel_type", "m.replace")], []),
    ]
    return rules


def _content(user_id: str, legacy_mentions: bool) -> list[dict[str, Any]]:
    if not legacy_mentions:
        return []
    return [
        {
            "rule_id": ".m.rule.contains_user_name",
            "default": True,
            "enabled": True,
            "pattern": localpart(user_id),
            "actions": ["notify", dict(_SOUND_DEFAULT), dict(_HIGHLIGHT)],
        }
    ]


def _underride() -> list[dict[str, Any]]:
    one_to_one = {"kind": "room_member_count", "is": "2"}
    return [
        _rule(".m.rule.call", [_match("type", "m.call.invite")], ["notify", dict(_SOUND_RING)]),
        _rule(
            ".m.rule.encrypted_room_one_to_one",
            [dict(one_to_one), _match("type", "m.room.encrypted")],
            ["notify", dict(_SOUND_DEFAULT)],
        ),
        _rule(
            ".m.rule.room_one_to_one",
            [dict(one_to_one), _match("type", "m.room.message")],
            ["notify", dict(_SOUND_DEFAULT)],
        ),
        _rule(".m.rule.message", [_match("type", "m.room.message")], ["notify"]),
        _rule(".m.rule.encrypted", [_match("type", "m.room.encrypted")], ["notify"]),
    ]


def default_push_rules(user_id: str, *, legacy_mentions: bool = True) -> dict[str, Any]:
    """The predefined push rules for ``user_id``, shaped like ``GET /pushrules/``.

    Returns ``{"global": {"override", "content", "room", "sender", "underride"}}`` with the
    rules in the spec's order. Every call builds fresh objects, so callers may mutate them.
    Raises ``ValueError`` if ``user_id`` is not ``@localpart:server``.
    """
    localpart(user_id)
    return {
        "global": {
            "override": _override(user_id, legacy_mentions),
            "content": _content(user_id, legacy_mentions),
            "room": [],
            "sender": [],
            "underride": _underride(),
        }
    }
