"""Tests for tumar.policy.filters: parsing, matching, limits and event_fields."""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.filters import (
    DEFAULT_TIMELINE_LIMIT,
    MAX_EVENT_LIMIT,
    EventFilter,
    Filter,
    FilterError,
    RoomEventFilter,
    RoomFilter,
    apply_event_fields,
    effective_limit,
    event_matches,
    filter_to_json,
    parse_filter,
    room_allowed,
    split_dotted_path,
    type_matches,
)

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM_A = "!a:example.org"
ROOM_B = "!b:example.org"

# --------------------------------------------------------------------------- parsing


def test_empty_filter_has_defaults() -> None:
    f = parse_filter({})
    assert f == Filter()
    assert f.event_format == "client"
    assert f.event_fields is None
    assert f.room.include_leave is False
    assert f.room.timeline == RoomEventFilter()
    assert f.room.timeline.limit is None
    assert f.room.timeline.lazy_load_members is False
    assert f.room.timeline.contains_url is None


def test_full_filter_parses() -> None:
    raw = {
        "event_fields": ["type", "content.body"],
        "event_format": "federation",
        "presence": {"not_types": ["*"], "limit": 0},
        "account_data": {"types": ["m.push_rules"]},
        "room": {
            "rooms": [ROOM_A],
            "not_rooms": [ROOM_B],
            "include_leave": True,
            "timeline": {
                "limit": 50,
                "types": ["m.room.*"],
                "not_senders": [BOB],
                "contains_url": True,
                "lazy_load_members": True,
                "include_redundant_members": True,
                "unread_thread_notifications": True,
            },
            "state": {"lazy_load_members": True},
            "ephemeral": {"not_types": ["m.typing"]},
            "account_data": {"rooms": [ROOM_A]},
        },
        "some_future_key": {"ignored": True},
    }
    f = parse_filter(raw)
    assert f.event_fields == ("type", "content.body")
    assert f.event_format == "federation"
    assert f.presence.not_types == ("*",)
    assert f.presence.limit == 0
    assert f.account_data.types == ("m.push_rules",)
    assert f.room.rooms == (ROOM_A,)
    assert f.room.not_rooms == (ROOM_B,)
    assert f.room.include_leave is True
    tl = f.room.timeline
    assert (tl.limit, tl.types, tl.not_senders, tl.contains_url) == (
        50,
        ("m.room.*",),
        (BOB,),
        True,
    )
    assert tl.lazy_load_members and tl.include_redundant_members
    assert tl.unread_thread_notifications
    assert f.room.state.lazy_load_members is True
    assert f.room.ephemeral.not_types == ("m.typing",)
    assert f.room.account_data.rooms == (ROOM_A,)


def test_null_lists_mean_absent() -> None:
    f = parse_filter({"room": {"timeline": {"types": None, "limit": None}}})
    assert f.room.timeline.types is None
    assert f.room.timeline.limit is None


def test_filter_is_frozen_and_hashable() -> None:
    f = parse_filter({"room": {"timeline": {"types": ["a"]}}})
    with pytest.raises(ValueError):
        f.room.timeline.limit = 3  # type: ignore[misc]
    assert hash(f) == hash(parse_filter({"room": {"timeline": {"types": ["a"]}}}))


def test_filter_to_json_round_trips_only_set_keys() -> None:
    raw = {"room": {"timeline": {"limit": 5, "types": ["m.room.message"]}}, "junk": 1}
    assert filter_to_json(parse_filter(raw)) == {
        "room": {"timeline": {"limit": 5, "types": ["m.room.message"]}}
    }
    assert parse_filter(filter_to_json(parse_filter(raw))) == parse_filter(raw)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        pytest.param([], "JSON object", id="top-level-list"),
        pytest.param("{}", "JSON object", id="top-level-string"),
        pytest.param(None, "JSON object", id="top-level-null"),
        pytest.param(
            {"room": {"timeline": {"limit": "10"}}}, "room.timeline.limit", id="limit-str"
        ),
        pytest.param(
            {"room": {"timeline": {"limit": 1.5}}}, "room.timeline.limit", id="limit-float"
        ),
        pytest.param(
            {"room": {"timeline": {"limit": 10.0}}}, "room.timeline.limit", id="limit-10.0"
        ),
        pytest.param(
            {"room": {"timeline": {"limit": True}}}, "room.timeline.limit", id="limit-bool"
        ),
        pytest.param({"room": {"timeline": {"limit": -1}}}, "room.timeline.limit", id="limit-neg"),
        pytest.param({"presence": {"limit": -5}}, "presence.limit", id="presence-limit-neg"),
        pytest.param({"account_data": {"limit": [1]}}, "account_data.limit", id="limit-list"),
        pytest.param(
            {"room": {"state": {"types": "m.room.name"}}}, "room.state.types", id="types-str"
        ),
        pytest.param(
            {"room": {"state": {"types": [1]}}}, "room.state.types[0]", id="types-int-item"
        ),
        pytest.param(
            {"presence": {"not_types": ["a", None]}}, "presence.not_types[1]", id="nt-null"
        ),
        pytest.param({"presence": {"senders": {"@a:b": 1}}}, "presence.senders", id="senders-dict"),
        pytest.param({"presence": {"not_senders": [ALICE, 3]}}, "not_senders[1]", id="ns-int"),
        pytest.param({"room": {"rooms": ROOM_A}}, "room.rooms", id="rooms-str"),
        pytest.param({"room": {"not_rooms": [[ROOM_A]]}}, "room.not_rooms[0]", id="nr-nested"),
        pytest.param(
            {"room": {"timeline": {"rooms": [1]}}}, "room.timeline.rooms[0]", id="tl-rooms"
        ),
        pytest.param(
            {"room": {"timeline": {"not_rooms": "x"}}}, "room.timeline.not_rooms", id="tl-not-rooms"
        ),
        pytest.param(
            {"room": {"timeline": {"contains_url": "true"}}}, "contains_url", id="contains-url-str"
        ),
        pytest.param(
            {"room": {"timeline": {"contains_url": 1}}}, "contains_url", id="contains-url-1"
        ),
        pytest.param(
            {"room": {"state": {"lazy_load_members": "yes"}}}, "lazy_load_members", id="llm-str"
        ),
        pytest.param(
            {"room": {"state": {"include_redundant_members": 0}}},
            "include_redundant_members",
            id="irm-int",
        ),
        pytest.param(
            {"room": {"timeline": {"unread_thread_notifications": None}}},
            "unread_thread_notifications",
            id="utn-null",
        ),
        pytest.param({"room": {"include_leave": "false"}}, "room.include_leave", id="leave-str"),
        pytest.param({"room": {"timeline": []}}, "room.timeline", id="timeline-list"),
        pytest.param({"room": "all"}, "room", id="room-str"),
        pytest.param({"presence": 1}, "presence", id="presence-int"),
        pytest.param({"event_format": "raw"}, "event_format", id="format-unknown"),
        pytest.param({"event_format": None}, "event_format", id="format-null"),
        pytest.param({"event_fields": "content.body"}, "event_fields", id="fields-str"),
        pytest.param({"event_fields": [{"a": 1}]}, "event_fields[0]", id="fields-dict-item"),
    ],
)
def test_parse_errors(raw: object, where: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(raw)
    assert where in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_error_lists_every_problem() -> None:
    with pytest.raises(FilterError) as info:
        parse_filter({"presence": {"limit": "x"}, "room": {"include_leave": 3}})
    message = str(info.value)
    assert "presence.limit" in message
    assert "room.include_leave" in message


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("limit", "default", "expected"),
    [
        pytest.param(None, DEFAULT_TIMELINE_LIMIT, DEFAULT_TIMELINE_LIMIT, id="absent"),
        pytest.param(None, 20, 20, id="absent-custom-default"),
        pytest.param(None, 5000, MAX_EVENT_LIMIT, id="absent-default-clamped"),
        pytest.param(0, DEFAULT_TIMELINE_LIMIT, 0, id="zero"),
        pytest.param(1, DEFAULT_TIMELINE_LIMIT, 1, id="one"),
        pytest.param(MAX_EVENT_LIMIT, DEFAULT_TIMELINE_LIMIT, MAX_EVENT_LIMIT, id="max"),
        pytest.param(10**12, DEFAULT_TIMELINE_LIMIT, MAX_EVENT_LIMIT, id="huge"),
    ],
)
def test_effective_limit(limit: int | None, default: int, expected: int) -> None:
    f = parse_filter({"room": {"timeline": {} if limit is None else {"limit": limit}}})
    assert effective_limit(f.room.timeline, default=default) == expected


def test_effective_limit_without_filter() -> None:
    assert effective_limit(None) == DEFAULT_TIMELINE_LIMIT == 10


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("m.room.message", "m.room.message", True),
        ("m.room.message", "m.room.messages", False),
        ("m.room.*", "m.room.message", True),
        ("m.room.*", "m.room.", True),
        ("m.room.*", "m.roomx", False),
        ("m.room.*", "m.reaction", False),
        ("*", "anything", True),
        ("*", "", True),
        ("*.message", "m.room.message", True),
        ("m.*.message", "m.room.message", True),
        ("m.*.message", "m.room.member", False),
        ("m.room.m?ssage", "m.room.message", False),  # only * is a wildcard
        ("m.room.m?ssage", "m.room.m?ssage", True),
        ("m.room.[a]", "m.room.a", False),  # regex metacharacters are literal
        ("a*b*c", "abc", True),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
        ("M.ROOM.*", "m.room.message", False),  # case-sensitive
    ],
)
def test_type_matches(pattern: str, event_type: str, expected: bool) -> None:
    assert type_matches(pattern, event_type) is expected


@given(
    pattern=st.text(alphabet="ab.*", max_size=8), event_type=st.text(alphabet="ab.*", max_size=10)
)
def test_type_matches_agrees_with_regex_reference(pattern: str, event_type: str) -> None:
    reference = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    expected = re.fullmatch(reference, event_type, re.DOTALL) is not None
    assert type_matches(pattern, event_type) is expected


def test_type_matches_pathological_pattern_terminates() -> None:
    # With backtracking this input takes astronomically long; greedy matching answers at once.
    # The generous limit only turns a hang into a failure; it is not a speed claim.
    pattern = "*a" * 40 + "*b"
    event_type = "a" * 5000
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(type_matches, pattern, event_type).result(timeout=60) is False


def _ev(raw: dict[str, Any]) -> EventFilter:
    return EventFilter.model_validate(raw)


def _rev(raw: dict[str, Any]) -> RoomEventFilter:
    return RoomEventFilter.model_validate(raw)


MSG = {"event_type": "m.room.message", "sender": ALICE, "room_id": ROOM_A}


@pytest.mark.parametrize(
    ("f", "kwargs", "expected"),
    [
        pytest.param(_ev({}), MSG, True, id="empty-matches-all"),
        pytest.param(_rev({}), MSG, True, id="empty-room-filter-matches-all"),
        # types
        pytest.param(_ev({"types": ["m.room.message"]}), MSG, True, id="types-exact"),
        pytest.param(_ev({"types": ["m.room.*"]}), MSG, True, id="types-wildcard"),
        pytest.param(_ev({"types": ["m.call.*", "m.room.member"]}), MSG, False, id="types-miss"),
        pytest.param(_ev({"types": []}), MSG, False, id="types-empty-matches-nothing"),
        # not_types
        pytest.param(_ev({"not_types": ["m.room.message"]}), MSG, False, id="not-types-exact"),
        pytest.param(_ev({"not_types": ["m.room.*"]}), MSG, False, id="not-types-wildcard"),
        pytest.param(_ev({"not_types": ["*"]}), MSG, False, id="not-types-star"),
        pytest.param(_ev({"not_types": ["m.typing"]}), MSG, True, id="not-types-miss"),
        pytest.param(_ev({"not_types": []}), MSG, True, id="not-types-empty"),
        pytest.param(
            _ev({"types": ["m.room.*"], "not_types": ["m.room.message"]}),
            MSG,
            False,
            id="not-types-wins",
        ),
        pytest.param(
            _ev({"types": ["m.room.message"], "not_types": ["m.*"]}),
            MSG,
            False,
            id="not-types-wildcard-wins",
        ),
        # senders
        pytest.param(_ev({"senders": [ALICE]}), MSG, True, id="senders-hit"),
        pytest.param(_ev({"senders": [BOB]}), MSG, False, id="senders-miss"),
        pytest.param(_ev({"senders": []}), MSG, False, id="senders-empty"),
        pytest.param(_ev({"senders": ["@alice:*"]}), MSG, False, id="senders-no-wildcards"),
        pytest.param(_ev({"not_senders": [ALICE]}), MSG, False, id="not-senders-hit"),
        pytest.param(_ev({"not_senders": [BOB]}), MSG, True, id="not-senders-miss"),
        pytest.param(
            _ev({"senders": [ALICE], "not_senders": [ALICE]}), MSG, False, id="not-senders-wins"
        ),
        # rooms (RoomEventFilter only)
        pytest.param(_rev({"rooms": [ROOM_A]}), MSG, True, id="rooms-hit"),
        pytest.param(_rev({"rooms": [ROOM_B]}), MSG, False, id="rooms-miss"),
        pytest.param(_rev({"rooms": []}), MSG, False, id="rooms-empty"),
        pytest.param(_rev({"not_rooms": [ROOM_A]}), MSG, False, id="not-rooms-hit"),
        pytest.param(_rev({"not_rooms": [ROOM_B]}), MSG, True, id="not-rooms-miss"),
        pytest.param(
            _rev({"rooms": [ROOM_A], "not_rooms": [ROOM_A]}), MSG, False, id="not-rooms-wins"
        ),
        pytest.param(
            _rev({"rooms": [ROOM_B], "not_rooms": [ROOM_B]}),
            {"event_type": "m.presence", "sender": ALICE},
            True,
            id="rooms-skipped-without-room-id",
        ),
        # contains_url
        pytest.param(_rev({"contains_url": True}), {**MSG, "has_url": True}, True, id="url-t-t"),
        pytest.param(_rev({"contains_url": True}), MSG, False, id="url-true-no-url"),
        pytest.param(_rev({"contains_url": False}), {**MSG, "has_url": True}, False, id="url-f-t"),
        pytest.param(_rev({"contains_url": False}), MSG, True, id="url-false-no-url"),
        pytest.param(_rev({}), {**MSG, "has_url": True}, True, id="url-unset-ignores-url"),
        # combined
        pytest.param(
            _rev({"types": ["m.room.*"], "senders": [ALICE], "rooms": [ROOM_A]}),
            MSG,
            True,
            id="all-positive-lists-hit",
        ),
        pytest.param(
            _rev({"types": ["m.room.*"], "senders": [ALICE], "rooms": [ROOM_B]}),
            MSG,
            False,
            id="one-positive-list-misses",
        ),
    ],
)
def test_event_matches(f: EventFilter, kwargs: dict[str, Any], expected: bool) -> None:
    assert event_matches(f, **kwargs) is expected


@pytest.mark.parametrize(
    ("raw", "room_id", "expected"),
    [
        pytest.param({}, ROOM_A, True, id="no-lists"),
        pytest.param({"rooms": [ROOM_A]}, ROOM_A, True, id="rooms-hit"),
        pytest.param({"rooms": [ROOM_A]}, ROOM_B, False, id="rooms-miss"),
        pytest.param({"rooms": []}, ROOM_A, False, id="rooms-empty"),
        pytest.param({"not_rooms": [ROOM_A]}, ROOM_A, False, id="not-rooms-hit"),
        pytest.param({"not_rooms": [ROOM_A]}, ROOM_B, True, id="not-rooms-miss"),
        pytest.param({"rooms": [ROOM_A], "not_rooms": [ROOM_A]}, ROOM_A, False, id="not-wins"),
    ],
)
def test_room_allowed(raw: dict[str, Any], room_id: str, expected: bool) -> None:
    assert room_allowed(RoomFilter.model_validate(raw), room_id) is expected


_text = st.text(alphabet="abm.*_-", max_size=8)


@given(
    not_types=st.lists(_text, min_size=1, max_size=4),
    pick=st.integers(min_value=0),
    types=st.none() | st.lists(_text, max_size=4),
    senders=st.none() | st.lists(st.sampled_from([ALICE, BOB]), max_size=2),
    sender=st.sampled_from([ALICE, BOB]),
    rooms=st.none() | st.lists(st.sampled_from([ROOM_A, ROOM_B]), max_size=2),
    has_url=st.booleans(),
)
def test_type_in_not_types_never_matches(
    not_types: list[str],
    pick: int,
    types: list[str] | None,
    senders: list[str] | None,
    sender: str,
    rooms: list[str] | None,
    has_url: bool,
) -> None:
    event_type = not_types[pick % len(not_types)]
    f = _rev({"not_types": not_types, "types": types, "senders": senders, "rooms": rooms})
    assert not event_matches(
        f, event_type=event_type, sender=sender, room_id=ROOM_A, has_url=has_url
    )
    # Also when the types list explicitly includes the very same type.
    f2 = _ev({"not_types": not_types, "types": [event_type]})
    assert not event_matches(f2, event_type=event_type, sender=sender)


@given(prefix=_text, rest=_text)
def test_wildcard_not_type_excludes_every_extension(prefix: str, rest: str) -> None:
    f = _ev({"not_types": [prefix + "*"]})
    assert not event_matches(f, event_type=prefix + rest, sender=ALICE)


# --------------------------------------------------------------------------- event_fields


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("content", ["content"]),
        ("content.body", ["content", "body"]),
        ("content.m\\.relates_to", ["content", "m.relates_to"]),
        ("content.m\\.relates_to.rel_type", ["content", "m.relates_to", "rel_type"]),
        ("content.m\\\\foo", ["content", "m\\foo"]),
        ("content.m\\xfoo", ["content", "m\\xfoo"]),  # other escapes are literal
        ("a\\", ["a\\"]),  # trailing lone backslash is literal
        ("a\\\\.b", ["a\\", "b"]),  # escaped backslash, then a real separator
        ("", [""]),
        ("a..b", ["a", "", "b"]),
    ],
)
def test_split_dotted_path(path: str, names: list[str]) -> None:
    assert split_dotted_path(path) == names


EVENT: dict[str, Any] = {
    "type": "m.room.message",
    "sender": ALICE,
    "event_id": "$e:example.org",
    "origin_server_ts": 1,
    "content": {
        "msgtype": "m.text",
        "body": "hi",
        "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"},
        "m\\odd": 7,
        "list": [{"a": 1}],
    },
    "unsigned": {"age": 5},
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(["type"], {"type": "m.room.message"}, id="top-level"),
        pytest.param(
            ["type", "sender"], {"type": "m.room.message", "sender": ALICE}, id="two-top-level"
        ),
        pytest.param(["content.body"], {"content": {"body": "hi"}}, id="nested"),
        pytest.param(
            ["content.body", "content.msgtype"],
            {"content": {"body": "hi", "msgtype": "m.text"}},
            id="nested-merge",
        ),
        pytest.param(
            ["content.m\\.relates_to.rel_type"],
            {"content": {"m.relates_to": {"rel_type": "m.thread"}}},
            id="escaped-dot",
        ),
        pytest.param(["content.m\\\\odd"], {"content": {"m\\odd": 7}}, id="escaped-backslash"),
        pytest.param(["content"], {"content": EVENT["content"]}, id="whole-object"),
        pytest.param(["content", "content.body"], {"content": EVENT["content"]}, id="obj-then-sub"),
        pytest.param(["content.body", "content"], {"content": EVENT["content"]}, id="sub-then-obj"),
        pytest.param(["missing"], {}, id="missing-top"),
        pytest.param(["content.missing"], {}, id="missing-nested"),
        pytest.param(["content.body.deeper"], {}, id="through-string"),
        pytest.param(["content.list.0"], {}, id="no-array-indexing"),
        pytest.param(["content.m.relates_to"], {}, id="unescaped-dot-is-separator"),
        pytest.param([], {}, id="empty-list"),
    ],
)
def test_apply_event_fields(fields: list[str], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(EVENT)
    assert apply_event_fields(EVENT, fields) == expected
    assert before == EVENT  # input untouched


def test_apply_event_fields_returns_copies() -> None:
    out = apply_event_fields(EVENT, ["content"])
    out["content"]["body"] = "changed"
    assert EVENT["content"]["body"] == "hi"
