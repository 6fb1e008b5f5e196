"""Table tests for tumar.policy.relations: reading and checking event relationships."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.relations import (
    INVALID_RELATION,
    MalformedRelation,
    Parent,
    Relation,
    check_relation,
    parse_relation,
    relation_type,
    thread_of,
)

ROOM = "!r:example.org"
BAD = INVALID_RELATION
ALICE = "@alice:example.org"
BOB = "@bob:example.org"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({}, None),
        ({"m.relates_to": None}, None),
        ({"m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}, None),  # a reply
        ({"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}},
         Relation("m.replace", "$x")),
        (
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}},
            Relation("m.annotation", "$x", "👍"),
        ),
        (
            {"m.relates_to": {"rel_type": "m.thread", "event_id": "$x", "is_falling_back": True,
                              "m.in_reply_to": {"event_id": "$y"}}},
            Relation("m.thread", "$x"),
        ),
        ({"m.relates_to": {"rel_type": "org.custom", "event_id": "$x"}},
         Relation("org.custom", "$x")),
    ],
)  # fmt: skip
def test_parse(content: dict[str, Any], expected: Relation | None) -> None:
    assert parse_relation(content) == expected


@pytest.mark.parametrize(
    "relates_to",
    [
        "m.replace",
        [],
        {"rel_type": 5, "event_id": "$x"},
        {"rel_type": "", "event_id": "$x"},
        {"rel_type": "m.replace"},
        {"rel_type": "m.replace", "event_id": "x"},
        {"rel_type": "m.replace", "event_id": "$"},
        {"rel_type": "m.replace", "event_id": "$" + "a" * 300},
        {"rel_type": "m.annotation", "event_id": "$x"},
        {"rel_type": "m.annotation", "event_id": "$x", "key": ""},
        {"rel_type": "m.annotation", "event_id": "$x", "key": 1},
        {"rel_type": "m.annotation", "event_id": "$x", "key": "k" * 513},
    ],
)
def test_parse_refuses_malformed(relates_to: Any) -> None:
    with pytest.raises(MalformedRelation):
        parse_relation({"m.relates_to": relates_to})


def test_helpers() -> None:
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    assert relation_type(thread) == "m.thread" and thread_of(thread) == "$root"
    assert relation_type({}) is None and thread_of({"m.relates_to": "x"}) is None
    assert thread_of({"m.relates_to": {"rel_type": "m.replace", "event_id": "$r"}}) is None


def parent(**changes: Any) -> Parent:
    values: dict[str, Any] = {
        "room_id": ROOM,
        "type": "m.room.message",
        "sender": ALICE,
        "state_key": None,
        "rel_type": None,
    }
    values.update(changes)
    return Parent(**values)


NEW = {"m.new_content": {"body": "x"}}


@pytest.mark.parametrize(
    ("rel_type", "event_type", "state_key", "sender", "content", "target", "errcode"),
    [
        # every relation: a known parent in this room
        ("m.reference", "m.room.message", None, ALICE, {}, None, INVALID_RELATION),
        ("m.reference", "m.room.message", None, ALICE, {}, parent(room_id="!o:e"), BAD),
        ("m.reference", "m.room.message", None, BOB, {}, parent(), ""),
        ("org.custom", "m.room.message", None, BOB, {}, parent(rel_type="m.thread"), ""),
        # edits
        ("m.replace", "m.room.message", None, ALICE, NEW, parent(), ""),
        ("m.replace", "m.room.message", None, BOB, NEW, parent(), INVALID_RELATION),
        ("m.replace", "m.sticker", None, ALICE, NEW, parent(), INVALID_RELATION),
        ("m.replace", "m.room.message", None, ALICE, {}, parent(), INVALID_RELATION),
        ("m.replace", "m.room.encrypted", None, ALICE, {}, parent(type="m.room.encrypted"), ""),
        ("m.replace", "m.room.topic", "", ALICE, NEW, parent(type="m.room.topic"), BAD),
        ("m.replace", "m.room.topic", None, ALICE, NEW, parent(type="m.room.topic", state_key=""),
         INVALID_RELATION),
        ("m.replace", "m.room.message", None, ALICE, NEW, parent(rel_type="m.replace"),
         INVALID_RELATION),
        ("m.replace", "m.room.message", None, ALICE, NEW, parent(rel_type="m.thread"), ""),
        # annotations: any event but an edit or an annotation, state events included
        ("m.annotation", "m.reaction", None, BOB, {}, parent(), ""),
        ("m.annotation", "m.reaction", None, BOB, {}, parent(type="m.room.topic", state_key=""),
         ""),
        ("m.annotation", "m.reaction", None, BOB, {}, parent(rel_type="m.thread"), ""),
        ("m.annotation", "m.reaction", None, BOB, {}, parent(rel_type="m.annotation"),
         INVALID_RELATION),
        ("m.annotation", "m.reaction", None, BOB, {}, parent(rel_type="m.replace"),
         INVALID_RELATION),
        # threads: not from an event that relates to another
        ("m.thread", "m.room.message", None, BOB, {}, parent(), ""),
        ("m.thread", "m.room.message", None, BOB, {}, parent(rel_type="m.thread"), "M_UNKNOWN"),
        ("m.thread", "m.room.message", None, BOB, {}, parent(rel_type="m.reference"),
         "M_UNKNOWN"),
    ],
)  # fmt: skip
def test_check(
    rel_type: str,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: dict[str, Any],
    target: Parent | None,
    errcode: str,
) -> None:
    verdict = check_relation(
        Relation(rel_type, "$p", "k" if rel_type == "m.annotation" else None),
        room_id=ROOM,
        event_type=event_type,
        state_key=state_key,
        sender=sender,
        content=content,
        parent=target,
    )
    assert bool(verdict) is (errcode == "")
    assert verdict.errcode == errcode
    if errcode:
        assert len(verdict.reason) > 10
