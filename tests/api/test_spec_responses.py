"""Real responses of the core client endpoints, validated against the Matrix spec.

Each test drives a realistic flow through the in-process ``api`` fixture (both backends) and
checks every response it gets -- success or error -- against the spec's response schema for
that operation (:class:`ResponseValidator`). Every error response is also checked against the
standard Matrix error schema, and every response must be ``application/json``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support import media as media_support
from tests.support.harness import Api, User, q
from tests.support.matrix_spec import ResponseValidator, load_bundle

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def validator() -> ResponseValidator:
    return ResponseValidator()


@pytest.fixture(scope="module")
def error_schema() -> Draft202012Validator:
    schema = load_bundle([])["components"]["schemas"]["StandardError"]
    return Draft202012Validator(schema)


class Checked:
    """The ``api`` client, with every response validated against the spec."""

    def __init__(
        self, api: Api, validator: ResponseValidator, error_schema: Draft202012Validator
    ) -> None:
        self.api = api
        self.validator = validator
        self.error_schema = error_schema
        self.seen: list[tuple[str, str, int]] = []

    def check(self, resp: httpx.Response) -> Any:
        request = resp.request
        where = f"{request.method} {request.url.path}"
        content_type = resp.headers.get("content-type", "")
        assert content_type.split(";")[0].strip() == "application/json", (
            f"{where}: content type {content_type!r}"
        )
        body = resp.json()
        self.validator.validate(request.method, str(request.url), resp.status_code, body)
        if resp.status_code >= 400:
            errors = sorted(self.error_schema.iter_errors(body), key=str)
            assert not errors, f"{where} -> {resp.status_code}: not a standard error: {errors}"
        self.seen.append((request.method, request.url.path, resp.status_code))
        return body

    async def call(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.api.raw(method, path, **kwargs)
        assert resp.status_code == expect, (
            f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text}"
        )
        return self.check(resp)

    async def error(
        self, method: str, path: str, status: int, errcode: str, **kwargs: Any
    ) -> dict[str, Any]:
        resp = await self.api.raw(method, path, **kwargs)
        body = self.check(resp)
        assert (resp.status_code, body.get("errcode")) == (status, errcode), (
            f"{method} {path}: expected {status} {errcode}, got {resp.status_code}: {resp.text}"
        )
        assert isinstance(body.get("error"), str) and body["error"], "error text missing"
        return dict(body)

    async def sync(self, user: User, since: str | None = None, **params: Any) -> dict[str, Any]:
        if since is not None:
            params["since"] = since
        body: dict[str, Any] = await self.call("GET", "/sync", user=user, params=params)
        return body

    async def messages(self, user: User, room_id: str, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = await self.call(
            "GET", f"/rooms/{q(room_id)}/messages", user=user, params=params
        )
        return body


@pytest.fixture
def checked(api: Api, validator: ResponseValidator, error_schema: Draft202012Validator) -> Checked:
    return Checked(api, validator, error_schema)


def _bad_token() -> User:
    return User("@nobody:tumar.test", "tmr_not-a-real-token", "NODEVICE")


async def _auth_errors(c: Checked, method: str, path: str, **kwargs: Any) -> None:
    """Missing, malformed and unknown access tokens."""
    await c.error(method, path, 401, "M_MISSING_TOKEN", **kwargs)
    await c.error(
        method, path, 401, "M_MISSING_TOKEN", headers={"Authorization": "Basic abc"}, **kwargs
    )
    body = await c.error(method, path, 401, "M_UNKNOWN_TOKEN", user=_bad_token(), **kwargs)
    assert body.get("soft_logout") is False


# ---- /login -------------------------------------------------------------------------------


async def test_login(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")

    flows = await c.call("GET", "/login")
    assert {"type": "m.login.password"} in flows["flows"]

    by_identifier = await c.call(
        "POST",
        "/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "password": alice.password,
            "initial_device_display_name": "laptop",
        },
    )
    assert by_identifier["user_id"] == alice.user_id
    assert by_identifier["device_id"] != alice.device_id

    by_user_id = await c.call(
        "POST",
        "/_matrix/client/r0/login",
        json={
            "type": "m.login.password",
            "user": alice.user_id,
            "password": alice.password,
            "device_id": "PHONE",
        },
    )
    assert by_user_id["device_id"] == "PHONE"
    phone = User(alice.user_id, by_user_id["access_token"], "PHONE")
    whoami = await c.call("GET", "/account/whoami", user=phone)
    assert whoami["device_id"] == "PHONE"

    password = {"type": "m.login.password", "password": alice.password}
    ident = {"type": "m.id.user", "user": "alice"}
    await c.error(
        "POST",
        "/login",
        403,
        "M_FORBIDDEN",
        json={**password, "identifier": ident, "password": "wrong"},
    )
    await c.error(
        "POST",
        "/login",
        403,
        "M_FORBIDDEN",
        json={**password, "identifier": {"type": "m.id.user", "user": "nobody"}},
    )
    await c.error(
        "POST",
        "/login",
        403,
        "M_FORBIDDEN",
        json={**password, "user": "@alice:elsewhere.example"},
    )
    token = {"type": "m.login.token", "token": "x"}  # unknown: the SSO page mints them
    await c.error("POST", "/login", 403, "M_FORBIDDEN", json=token)
    await c.error("POST", "/login", 400, "M_UNKNOWN", json={"type": "m.login.foo", "token": "x"})
    await c.error(
        "POST",
        "/login",
        400,
        "M_UNKNOWN",
        json={**password, "identifier": {"type": "m.id.phone", "country": "GB", "phone": "1"}},
    )
    await c.error("POST", "/login", 400, "M_BAD_JSON", json={"type": "m.login.password"})
    await c.error("POST", "/login", 400, "M_BAD_JSON", json={**password, "user": 42})
    await c.error("POST", "/login", 400, "M_BAD_JSON", json={"password": "x", "user": "alice"})
    await c.error("POST", "/login", 400, "M_BAD_JSON", json=["not", "an", "object"])
    await c.error(
        "POST",
        "/login",
        400,
        "M_INVALID_PARAM",
        json={**password, "identifier": ident, "device_id": "D\u0000"},
    )
    await c.error(
        "POST",
        "/login",
        400,
        "M_NOT_JSON",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )


# ---- /createRoom --------------------------------------------------------------------------


async def test_create_room(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")

    plain = await c.call("POST", "/createRoom", user=alice, json={})
    assert plain["room_id"].startswith("!")
    assert "room_alias" not in plain

    full = await c.call(
        "POST",
        "/createRoom",
        user=alice,
        json={
            "visibility": "public",
            "room_alias_name": "town-square",
            "name": "Town square",
            "topic": "Everything",
            "preset": "public_chat",
            "invite": [bob.user_id],
            "is_direct": False,
            "room_version": "11",
            "creation_content": {"m.federate": False},
            "initial_state": [
                {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                {"type": "org.example.custom", "state_key": "k", "content": {"a": 1}},
            ],
            "power_level_content_override": {"events_default": 10},
        },
    )
    assert full["room_alias"] == "#town-square:tumar.test"

    direct = await c.call(
        "POST",
        "/_matrix/client/r0/createRoom",
        user=alice,
        json={"preset": "trusted_private_chat", "invite": [bob.user_id], "is_direct": True},
    )
    assert direct["room_id"] not in (plain["room_id"], full["room_id"])

    await _auth_errors(c, "POST", "/createRoom", json={})
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_ROOM_IN_USE",
        user=alice,
        json={"room_alias_name": "town-square"},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"room_alias_name": "has:colon"},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"room_alias_name": "nul\u0000"},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
        user=alice,
        json={"room_version": "1"},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"invite": ["not-a-user-id"]},
    )
    await c.error(
        "POST",
        "/createRoom",
        404,
        "M_NOT_FOUND",
        user=alice,
        json={"invite": ["@ghost:tumar.test"]},
    )
    await c.error(
        "POST",
        "/createRoom",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"invite": ["@someone:elsewhere.example"]},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_UNKNOWN",
        user=alice,
        json={"invite_3pid": [{"id_server": "x", "medium": "email", "address": "a@b.c"}]},
    )
    await c.error(
        "POST", "/createRoom", 400, "M_BAD_JSON", user=alice, json={"visibility": "secret"}
    )
    await c.error("POST", "/createRoom", 400, "M_BAD_JSON", user=alice, json={"name": 5})
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_BAD_JSON",
        user=alice,
        json={"power_level_content_override": {"ban": "high"}},
    )
    await c.error(
        "POST",
        "/createRoom",
        400,
        "M_NOT_JSON",
        user=alice,
        content=b"[",
        headers={"Content-Type": "application/json"},
    )


# ---- /sync --------------------------------------------------------------------------------


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def _ephemeral(section: dict[str, Any], event_type: str) -> dict[str, Any] | None:
    found = [e for e in section["ephemeral"]["events"] if e["type"] == event_type]
    return found[0]["content"] if found else None


async def test_sync(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    carol = await c.api.register("carol")

    # Joined room with history, typing, receipts and room account data.
    joined = await c.api.create_room(alice, name="Joined", preset="public_chat")
    await c.api.join(bob, joined)
    first = await c.api.send(alice, joined, "one")
    await c.api.send(bob, joined, "two")
    await c.call("POST", f"/rooms/{q(joined)}/receipt/m.read/{q(first)}", user=alice, json={})
    await c.call(
        "PUT",
        f"/rooms/{q(joined)}/typing/{q(bob.user_id)}",
        user=bob,
        json={"typing": True, "timeout": 30_000},
    )
    await c.call(
        "PUT",
        f"/user/{q(alice.user_id)}/rooms/{q(joined)}/account_data/m.tag",
        user=alice,
        json={"tags": {"u.work": {"order": 0.5}}},
    )
    await c.call(
        "PUT",
        f"/user/{q(alice.user_id)}/account_data/org.example.settings",
        user=alice,
        json={"theme": "dark"},
    )
    # Invited room and left room.
    invited = await c.api.create_room(carol, name="Invitation", invite=[alice.user_id])
    left = await c.api.create_room(carol, name="Left", preset="public_chat")
    await c.api.join(alice, left)
    await c.api.send(alice, left, "bye")
    await c.call("POST", f"/rooms/{q(left)}/leave", user=alice, json={})

    include_leave = json.dumps({"room": {"include_leave": True}})
    initial = await c.sync(alice, filter=include_leave)
    rooms = initial["rooms"]
    assert set(rooms["join"]) == {joined}
    assert set(rooms["invite"]) == {invited}
    assert set(rooms["leave"]) == {left}
    section = rooms["join"][joined]
    assert "m.room.create" in _types(section["state"]["events"] + section["timeline"]["events"])
    assert _ephemeral(section, "m.typing") == {"user_ids": [bob.user_id]}
    receipts = _ephemeral(section, "m.receipt")
    assert receipts is not None and alice.user_id in receipts[first]["m.read"]
    assert _types(section["account_data"]["events"]) == ["m.tag"]
    assert "org.example.settings" in _types(initial["account_data"]["events"])
    invite_state = rooms["invite"][invited]["invite_state"]["events"]
    assert "m.room.member" in _types(invite_state)
    assert _types(rooms["leave"][left]["timeline"]["events"])[-1] == "m.room.member"

    # Default initial sync: left rooms are not included.
    default = await c.sync(alice)
    assert default["rooms"]["leave"] == {}

    # A filtered initial sync with a small limit, lazy-loaded members and event_fields.
    limited = await c.sync(
        alice,
        filter=json.dumps(
            {
                "room": {
                    "timeline": {"limit": 1},
                    "state": {"lazy_load_members": True},
                },
            }
        ),
    )
    lim_section = limited["rooms"]["join"][joined]
    assert lim_section["timeline"]["limited"] is True
    assert len(lim_section["timeline"]["events"]) == 1
    stored = await c.call(
        "POST",
        f"/user/{q(alice.user_id)}/filter",
        user=alice,
        # event_fields may drop fields the spec marks required; keep those.
        json={"event_fields": ["type", "content", "event_id", "sender", "origin_server_ts"]},
    )
    await c.sync(alice, filter=stored["filter_id"])

    # Incremental syncs.
    since = initial["next_batch"]
    nothing = await c.sync(alice, since=default["next_batch"])
    assert nothing["rooms"]["join"] == {} or all(
        not s["timeline"]["events"] for s in nothing["rooms"]["join"].values()
    )

    second = await c.api.send(bob, joined, "three")
    await c.call(
        "PUT", f"/rooms/{q(joined)}/typing/{q(bob.user_id)}", user=bob, json={"typing": False}
    )
    await c.call("POST", f"/rooms/{q(joined)}/receipt/m.read/{q(second)}", user=bob, json={})
    await c.call(
        "POST",
        f"/rooms/{q(joined)}/read_markers",
        user=alice,
        json={"m.fully_read": second, "m.read": second, "m.read.private": second},
    )
    await c.call(
        "PUT",
        f"/user/{q(alice.user_id)}/account_data/m.direct",
        user=alice,
        json={carol.user_id: [invited]},
    )
    await c.call("POST", f"/rooms/{q(invited)}/join", user=alice, json={})
    newly_invited = await c.api.create_room(bob, invite=[alice.user_id])
    await c.call("POST", f"/rooms/{q(joined)}/leave", user=alice, json={})

    incremental = await c.sync(alice, since=since, timeout=0)
    rooms = incremental["rooms"]
    assert joined in rooms["leave"]
    assert invited in rooms["join"]
    assert newly_invited in rooms["invite"]
    assert "m.direct" in _types(incremental["account_data"]["events"])
    assert incremental["next_batch"] != since

    # The other side sees typing stop, receipts and the new members incrementally.
    bob_initial = await c.sync(bob)
    await c.call(
        "PUT", f"/rooms/{q(joined)}/typing/{q(bob.user_id)}", user=bob, json={"typing": True}
    )
    bob_first = await c.api.send(bob, joined, "four")
    await c.call("POST", f"/rooms/{q(joined)}/receipt/m.read/{q(bob_first)}", user=bob, json={})
    bob_next = await c.sync(bob, since=bob_initial["next_batch"])
    bob_section = bob_next["rooms"]["join"][joined]
    assert _types(bob_section["timeline"]["events"]) == ["m.room.message"]
    assert _ephemeral(bob_section, "m.typing") == {"user_ids": [bob.user_id]}
    assert _ephemeral(bob_section, "m.receipt") is not None

    # Long-poll that times out with nothing new.
    idle = await c.sync(bob, since=bob_next["next_batch"], timeout=50)
    assert idle["rooms"]["join"] == {}

    # full_state and a legacy r0 path.
    await c.call(
        "GET",
        "/_matrix/client/r0/sync",
        user=bob,
        params={"since": bob_next["next_batch"], "full_state": "true"},
    )

    # Errors.
    await _auth_errors(c, "GET", "/sync")
    await c.error("GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"since": "bogus"})
    await c.error("GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"since": "s-1_0"})
    # Beyond the database's 64-bit positions (was a 500 on both backends).
    await c.error(
        "GET",
        "/sync",
        400,
        "M_INVALID_PARAM",
        user=alice,
        params={"since": "s99999999999999999999_0"},
    )
    await c.error("GET", "/sync", 400, "M_BAD_JSON", user=alice, params={"filter": "{nope"})
    await c.error(
        "GET",
        "/sync",
        400,
        "M_BAD_JSON",
        user=alice,
        params={"filter": json.dumps({"room": {"timeline": {"limit": "ten"}}})},
    )
    await c.error("GET", "/sync", 404, "M_NOT_FOUND", user=alice, params={"filter": "999999"})
    await c.error("GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"timeout": "-1"})
    await c.error("GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"timeout": "soon"})
    await c.error(
        "GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"full_state": "maybe"}
    )


# ---- /rooms/{roomId}/messages -------------------------------------------------------------


async def test_messages(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    eve = await c.api.register("eve")
    room = await c.api.create_room(alice, preset="public_chat", name="History")
    await c.api.join(bob, room)
    sent = [await c.api.send(alice if i % 2 else bob, room, f"m{i}") for i in range(7)]
    await c.call(
        "PUT",
        f"/rooms/{q(room)}/redact/{q(sent[0])}/r1",
        user=bob,
        json={"reason": "typo"},
    )

    # Backwards from the end, paginating until there is no `end`.
    seen: list[str] = []
    page = await c.messages(alice, room, dir="b", limit=4)
    assert "end" in page
    pages = 1
    while "end" in page:
        seen += [e["event_id"] for e in page["chunk"]]
        page = await c.messages(alice, room, dir="b", limit=4, **{"from": page["end"]})
        pages += 1
        assert pages < 20
    seen += [e["event_id"] for e in page["chunk"]]
    assert [e for e in seen if e in sent] == list(reversed(sent))
    assert page["chunk"] == [] or "end" not in page

    # Forwards from the start, and a window with `to`.
    forward = await c.messages(alice, room, dir="f", limit=100)
    assert "end" not in forward
    ids = [e["event_id"] for e in forward["chunk"]]
    assert [e for e in ids if e in sent] == sent
    redacted = next(e for e in forward["chunk"] if e["event_id"] == sent[0])
    assert redacted["content"] == {}
    assert redacted["unsigned"]["redacted_because"]["type"] == "m.room.redaction"
    first_page = await c.messages(alice, room, dir="f", limit=3)
    assert len(first_page["chunk"]) == 3 and "end" in first_page
    window = await c.messages(
        alice, room, dir="f", limit=50, **{"from": first_page["end"], "to": first_page["end"]}
    )
    assert window["chunk"] == []

    # From a sync's prev_batch, with a filter and lazy-loaded members.
    synced = await c.sync(alice, filter=json.dumps({"room": {"timeline": {"limit": 2}}}))
    prev_batch = synced["rooms"]["join"][room]["timeline"]["prev_batch"]
    older = await c.messages(
        alice,
        room,
        dir="b",
        limit=3,
        filter=json.dumps({"types": ["m.room.message"], "lazy_load_members": True}),
        **{"from": prev_batch},
    )
    assert older["chunk"] and all(e["type"] == "m.room.message" for e in older["chunk"])
    assert {e["state_key"] for e in older["state"]} <= {alice.user_id, bob.user_id}
    # `from` may also be a sync token.
    await c.messages(alice, room, dir="b", limit=2, **{"from": synced["next_batch"]})
    await c.messages(alice, room, dir="b", limit=0)
    await c.call("GET", f"/_matrix/client/r0/rooms/{q(room)}/messages", user=alice)

    # A member who left reads up to their leave.
    await c.call("POST", f"/rooms/{q(room)}/leave", user=bob, json={})
    await c.api.send(alice, room, "after bob left")
    bobs = await c.messages(bob, room, dir="b", limit=50)
    assert bobs["chunk"][0]["type"] == "m.room.member"

    # Errors.
    path = f"/rooms/{q(room)}/messages"
    await _auth_errors(c, "GET", path)
    await c.error("GET", path, 403, "M_FORBIDDEN", user=eve)
    await c.error(
        "GET", f"/rooms/{q('!unknown:tumar.test')}/messages", 403, "M_FORBIDDEN", user=alice
    )
    await c.error("GET", f"/rooms/{q('not-a-room')}/messages", 400, "M_INVALID_PARAM", user=alice)
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"dir": "sideways"})
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"limit": "-3"})
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"limit": "many"})
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"from": "x7"})
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"to": "t"})
    await c.error("GET", path, 400, "M_INVALID_PARAM", user=alice, params={"from": "t" + "9" * 20})
    # NUL cannot be stored or queried on PostgreSQL (was a 500 there).
    await c.error(
        "GET",
        f"/rooms/{q('!a' + chr(0) + ':tumar.test')}/messages",
        400,
        "M_INVALID_PARAM",
        user=alice,
    )
    await c.error("GET", path, 400, "M_BAD_JSON", user=alice, params={"filter": "[1"})
    await c.error(
        "GET", path, 400, "M_BAD_JSON", user=alice, params={"filter": '{"types": "m.room"}'}
    )


async def test_unknown_endpoints_and_methods(checked: Checked) -> None:
    """Routing errors are Matrix errors too (the spec's catch-all ``M_UNRECOGNIZED``)."""
    c = checked
    alice = await c.api.register("alice")
    for method, path, status in (
        ("DELETE", "/sync", 405),
        ("PUT", "/login", 405),
        ("GET", "/createRoom", 405),
    ):
        resp = await c.api.raw(method, path, user=alice)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        body = resp.json()
        assert body["errcode"] == "M_UNRECOGNIZED"
        assert not list(c.error_schema.iter_errors(body))


# ---- media --------------------------------------------------------------------------------


async def test_media(checked: Checked) -> None:
    """Uploads, created ids, config, downloads and thumbnails; binary responses are checked
    for a documented status and the spec's required headers."""
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    png = media_support.png_bytes(120, 80)
    uploaded = await c.call(
        "POST",
        media_support.UPLOAD,
        user=alice,
        content=png,
        headers={"Content-Type": "image/png"},
        params={"filename": "a.png"},
    )
    mxc = uploaded["content_uri"]
    server, media_id = media_support.media_path(mxc)
    created = await c.call("POST", "/_matrix/media/v1/create", user=alice, json={})
    _, created_id = media_support.media_path(created["content_uri"])
    put = f"{media_support.V3}/upload/{server}/{created_id}"
    jpeg = {"Content-Type": "image/jpeg"}
    await c.error("PUT", put, 403, "M_FORBIDDEN", user=bob, content=b"x", headers=jpeg)
    assert (
        await c.call("PUT", put, user=alice, content=media_support.jpeg_bytes(), headers=jpeg) == {}
    )
    await c.error("PUT", put, 409, "M_CANNOT_OVERWRITE_MEDIA", user=alice, content=b"x")
    await c.error(
        "PUT",
        f"{media_support.V3}/upload/{server}/AAAA",
        404,
        "M_NOT_FOUND",
        user=alice,
        content=b"x",
    )

    for base in (media_support.V1, media_support.V3):
        config = await c.call("GET", f"{base}/config", user=alice)
        assert config["m.upload.size"] > 0
        await c.error(
            "GET",
            f"{base}/preview_url",
            403,
            "M_FORBIDDEN",
            user=alice,
            params={"url": "https://example.org"},
        )
        for path, params in (
            (f"{base}/download/{server}/{media_id}", None),
            (f"{base}/download/{server}/{media_id}/b.png", None),
            (f"{base}/thumbnail/{server}/{media_id}", {"width": 32, "height": 32}),
        ):
            resp = await c.api.raw("GET", path, user=alice, params=params)
            assert resp.status_code == 200, resp.text
            c.validator.validate("GET", path, 200, None)  # a documented status
            assert resp.headers["content-type"] == "image/png"
            assert resp.headers["content-disposition"].startswith("inline")
            c.seen.append(("GET", path, 200))
            await c.error("GET", path, 403, "M_FORBIDDEN", user=bob, params=params)
            await c.error(
                "GET",
                path.replace(media_id, "AAAAAAAAAAAAAAAAAAAAAAAA"),
                404,
                "M_NOT_FOUND",
                user=alice,
                params=params,
            )
        await c.error(
            "GET",
            f"{base}/thumbnail/{server}/{media_id}",
            400,
            "M_INVALID_PARAM",
            user=alice,
            params={"width": 0, "height": 32},
        )

    await c.error(
        "POST",
        media_support.UPLOAD,
        400,
        "TUMAR_CONTENT_TYPE_MISMATCH",
        user=alice,
        content=png,
        headers={"Content-Type": "image/gif"},
    )
    await c.error(
        "POST",
        media_support.UPLOAD,
        400,
        "M_INVALID_PARAM",
        user=alice,
        content=png,
        headers={"Content-Type": "image"},
    )
    await _auth_errors(c, "POST", media_support.UPLOAD, content=png)
    await _auth_errors(c, "GET", f"{media_support.V1}/download/{server}/{media_id}")
    await _auth_errors(c, "POST", "/_matrix/media/v1/create", json={})
    pending = await c.call("POST", "/_matrix/media/v1/create", user=alice, json={})
    _, pending_id = media_support.media_path(pending["content_uri"])
    await c.error(
        "GET",
        f"{media_support.V1}/download/{server}/{pending_id}",
        504,
        "M_NOT_YET_UPLOADED",
        user=alice,
    )
