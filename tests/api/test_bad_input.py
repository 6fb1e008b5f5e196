"""Bad requests, endpoint by endpoint: each is refused with the right status and ``errcode`` and
a readable ``error``, and leaves every table of the database exactly as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.harness import CLIENT, Api, User, q
from tumar.core.services import Services
from tumar.store.schema import metadata

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(services: Services) -> Snapshot:
    """Every row of every table, in a stable order."""
    out: Snapshot = {}
    async with services.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


# A refused login is recorded (issue 4): a ``login.failure`` audit row and the failure count
# towards the lockout. Nothing else may change.
LOGIN_RECORDS = frozenset({"audit_log", "login_throttle"})


# A refusal by the classification policy chain is audited (issue 6): exactly one
# ``denied.<action>`` row naming the errcode, written after the refused transaction rolled back.
POLICY_ERRCODES = frozenset(
    {
        "TUMAR_AUDIENCE",
        "TUMAR_CLEARANCE",
        "TUMAR_DLP",
        "TUMAR_DLP_MEDIA",
        "TUMAR_LABEL_EXCLUDES_MEMBERS",
        "TUMAR_LABEL_LOWERING",
    }
)


def policy_denial(status: int, errcode: str) -> str | None:
    return errcode if status == 403 and errcode in POLICY_ERRCODES else None


def assert_same(
    before: Snapshot, after: Snapshot, *, login_refused: bool = False, denied: str | None = None
) -> None:
    changed = {name for name in before if before[name] != after[name]}
    if login_refused:
        changed -= LOGIN_RECORDS
        added = set(after["audit_log"]) - set(before["audit_log"])
        assert all("login.failure" in row for row in added), added
    if denied is not None:
        changed.discard("audit_log")
        added = set(after["audit_log"]) - set(before["audit_log"])
        assert len(added) == 1 and set(before["audit_log"]) <= set(after["audit_log"])
        row = added.pop()
        assert any(str(v).startswith("denied.") for v in row), row
        assert any(denied in str(v) for v in row), row
    assert not changed, f"tables changed by a refused request: {sorted(changed)}"


@dataclass
class World:
    alice: User  # creator of both rooms
    bob: User  # joined `room`, no power
    carol: User  # in no room
    room: str  # public, alias #lobby:tumar.test
    secret: str  # private, alice only
    event: str  # alice's message in `room`
    secret_event: str  # alice's message in `secret`

    def user(self, name: str | None) -> User | None:
        if name is None:
            return None
        user: User = getattr(self, name)
        return user

    def fill(self, value: Any) -> Any:
        """Replace ``{room}``-style placeholders in paths (percent-encoded) and bodies."""
        names = {
            "alice": self.alice.user_id,
            "bob": self.bob.user_id,
            "carol": self.carol.user_id,
            "room": self.room,
            "secret": self.secret,
            "event": self.event,
            "secret_event": self.secret_event,
            "bob_device": self.bob.device_id,
        }
        if isinstance(value, str):
            if value.startswith("/"):
                return value.format(**{k: q(v) for k, v in names.items()})
            if value.startswith("{") and value.endswith("}") and value[1:-1] in names:
                return names[value[1:-1]]
            return value
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        return value


@pytest.fixture
async def world(api: Api) -> AsyncIterator[World]:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat", room_alias_name="lobby")
    secret = await api.create_room(alice)
    await api.join(bob, room)
    event = await api.send(alice, room, "hello")
    secret_event = await api.send(alice, secret, "secret")
    yield World(alice, bob, carol, room, secret, event, secret_event)


async def refused(
    api: Api,
    method: str,
    path: str,
    status: int,
    errcode: str,
    **kwargs: Any,
) -> dict[str, Any]:
    """Make the request; assert the refusal, a readable error and an untouched database."""
    assert api.services is not None
    before = await snapshot(api.services)
    body = await api.error(method, path, status, errcode, **kwargs)
    error = body["error"]
    assert len(error) >= 10 and " " in error.strip(), f"unreadable error: {error!r}"
    assert "Traceback" not in error and " object at 0x" not in error
    assert_same(
        before,
        await snapshot(api.services),
        login_refused=path.endswith("/login"),
        denied=policy_denial(status, errcode),
    )
    return body


# ---- every endpoint that reads a JSON body ------------------------------------------------

# (method, path, user making the request)
BODY_ENDPOINTS: list[tuple[str, str, str | None]] = [
    ("POST", "/login", None),
    ("POST", "/register", None),
    ("PUT", "/devices/{bob_device}", "bob"),
    ("DELETE", "/devices/{bob_device}", "bob"),
    ("POST", "/delete_devices", "bob"),
    ("POST", "/createRoom", "bob"),
    ("POST", "/join/{room}", "carol"),
    ("POST", "/rooms/{room}/join", "carol"),
    ("POST", "/rooms/{room}/leave", "bob"),
    ("POST", "/rooms/{room}/invite", "alice"),
    ("POST", "/rooms/{room}/kick", "alice"),
    ("POST", "/rooms/{room}/ban", "alice"),
    ("POST", "/rooms/{room}/unban", "alice"),
    ("PUT", "/rooms/{room}/send/m.room.message/txn1", "bob"),
    ("PUT", "/rooms/{room}/state/m.room.topic", "alice"),
    ("PUT", "/rooms/{room}/state/org.example.thing/key", "alice"),
    ("PUT", "/rooms/{room}/redact/{event}/txn2", "alice"),
    ("POST", "/rooms/{room}/receipt/m.read/{event}", "bob"),
    ("POST", "/rooms/{room}/read_markers", "bob"),
    ("PUT", "/rooms/{room}/typing/{bob}", "bob"),
    ("POST", "/user/{bob}/filter", "bob"),
    ("PUT", "/user/{bob}/account_data/org.example.a", "bob"),
    ("PUT", "/user/{bob}/rooms/{room}/account_data/org.example.a", "bob"),
    ("PUT", "/profile/{bob}/displayname", "bob"),
    ("POST", "/user_directory/search", "bob"),
    # everyday features (issue 3)
    ("PUT", "/pushrules/global/override/mine", "bob"),
    ("PUT", "/pushrules/global/override/.m.rule.master/enabled", "bob"),
    ("PUT", "/pushrules/global/override/.m.rule.master/actions", "bob"),
    ("POST", "/pushers/set", "bob"),
    ("PUT", "/user/{bob}/rooms/{room}/tags/u.work", "bob"),
    ("POST", "/rooms/{room}/report/{event}", "bob"),
    ("POST", "/rooms/{room}/report", "bob"),
    ("POST", "/publicRooms", "bob"),
    ("PUT", "/directory/list/room/{room}", "alice"),
    ("PUT", "/directory/room/%23new%3Atumar.test", "bob"),
    ("POST", "/rooms/{room}/upgrade", "alice"),
    ("PUT", "/presence/{bob}/status", "bob"),
    ("POST", "/search", "bob"),
]
ENDPOINT_IDS = [f"{m} {p}" for m, p, _ in BODY_ENDPOINTS]
JSON = {"Content-Type": "application/json"}


MALFORMED = [
    b"{",
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b"\xff\xfe",
    b"NaN",
    b'{"a": 1} trailing',
    b'{"a": "\\ud800"}',
]
NOT_OBJECTS = [b"[]", b'"text"', b"42", b"null", b"true", b'[{"a": 1}]']


@pytest.mark.parametrize(("method", "path", "who"), BODY_ENDPOINTS, ids=ENDPOINT_IDS)
async def test_malformed_bodies(
    api: Api, world: World, method: str, path: str, who: str | None
) -> None:
    """Not JSON: M_NOT_JSON. JSON but not an object: M_BAD_JSON. Too big: M_TOO_LARGE."""
    assert api.services is not None
    url, user = world.fill(path), world.user(who)
    for raw in MALFORMED:
        await refused(api, method, url, 400, "M_NOT_JSON", user=user, content=raw, headers=JSON)
    for raw in NOT_OBJECTS:
        await refused(api, method, url, 400, "M_BAD_JSON", user=user, content=raw, headers=JSON)
    limit = api.services.settings.max_request_body_bytes
    huge = b'{"x": "' + b"a" * limit + b'"}'
    body = await refused(
        api, method, url, 413, "M_TOO_LARGE", user=user, content=huge, headers=JSON
    )
    assert str(limit) in body["error"]

    # Without Content-Length the body is counted as it arrives.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"x": "'
        for _ in range(limit // 65_536 + 1):
            yield b"a" * 65_536
        yield b'"}'

    before = await snapshot(api.services)
    headers = dict(JSON)
    if user is not None:
        headers["Authorization"] = f"Bearer {user.token}"
    resp = await api.client.request(method, CLIENT + url, content=chunks(), headers=headers)
    assert "content-length" not in resp.request.headers
    assert (resp.status_code, resp.json()["errcode"]) == (413, "M_TOO_LARGE")
    assert_same(before, await snapshot(api.services))


# ---- wrong types and bad values -----------------------------------------------------------

PL_BAD = {"users": {"@alice:tumar.test": "100"}}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Any
    status: int
    errcode: str
    user: str | None = "bob"
    params: dict[str, Any] | None = None


WRONG_TYPES = {
    "login-password-number": Case(
        "POST",
        "/login",
        {"type": "m.login.password", "user": "bob", "password": 5},
        400,
        "M_BAD_JSON",
        None,
    ),
    "login-identifier-string": Case(
        "POST",
        "/login",
        {"type": "m.login.password", "identifier": "bob", "password": "x"},
        400,
        "M_BAD_JSON",
        None,
    ),
    "login-no-type": Case(
        "POST", "/login", {"user": "bob", "password": "x"}, 400, "M_BAD_JSON", None
    ),
    "login-no-password": Case(
        "POST", "/login", {"type": "m.login.password", "user": "bob"}, 400, "M_BAD_JSON", None
    ),
    "register-username-number": Case(
        "POST",
        "/register",
        {"username": 7, "password": "x", "auth": {"type": "m.login.dummy"}},
        400,
        "M_BAD_JSON",
        None,
    ),
    "register-auth-list": Case(
        "POST",
        "/register",
        {"username": "dave", "password": "x", "auth": []},
        400,
        "M_BAD_JSON",
        None,
    ),
    "register-inhibit-login-string": Case(
        "POST",
        "/register",
        {
            "username": "dave",
            "password": "x",
            "inhibit_login": "yes",
            "auth": {"type": "m.login.dummy"},
        },
        400,
        "M_BAD_JSON",
        None,
    ),
    "register-no-password": Case(
        "POST",
        "/register",
        {"username": "dave", "auth": {"type": "m.login.dummy"}},
        400,
        "M_MISSING_PARAM",
        None,
    ),
    "register-empty-password": Case(
        "POST",
        "/register",
        {"username": "dave", "password": "", "auth": {"type": "m.login.dummy"}},
        400,
        "M_WEAK_PASSWORD",
        None,
    ),
    "register-bad-username": Case(
        "POST",
        "/register",
        {"username": "Dave!", "password": "x", "auth": {"type": "m.login.dummy"}},
        400,
        "M_INVALID_USERNAME",
        None,
    ),
    "device-name-number": Case(
        "PUT", "/devices/{bob_device}", {"display_name": 1}, 400, "M_BAD_JSON"
    ),
    "delete-devices-not-list": Case(
        "POST", "/delete_devices", {"devices": "ABC"}, 400, "M_BAD_JSON"
    ),
    "delete-devices-missing": Case("POST", "/delete_devices", {}, 400, "M_BAD_JSON"),
    "create-name-number": Case("POST", "/createRoom", {"name": 1}, 400, "M_BAD_JSON"),
    "create-invite-string": Case("POST", "/createRoom", {"invite": "{alice}"}, 400, "M_BAD_JSON"),
    "create-preset-unknown": Case("POST", "/createRoom", {"preset": "party"}, 400, "M_BAD_JSON"),
    "create-visibility-unknown": Case(
        "POST", "/createRoom", {"visibility": "secret"}, 400, "M_BAD_JSON"
    ),
    "create-is-direct-string": Case(
        "POST", "/createRoom", {"is_direct": "true"}, 400, "M_BAD_JSON"
    ),
    "create-initial-state-no-content": Case(
        "POST", "/createRoom", {"initial_state": [{"type": "m.room.topic"}]}, 400, "M_BAD_JSON"
    ),
    "create-initial-state-not-list": Case(
        "POST",
        "/createRoom",
        {"initial_state": {"type": "m.room.topic", "content": {}}},
        400,
        "M_BAD_JSON",
    ),
    "create-power-override-string-level": Case(
        "POST", "/createRoom", {"power_level_content_override": PL_BAD}, 400, "M_BAD_JSON"
    ),
    "create-power-override-not-object": Case(
        "POST", "/createRoom", {"power_level_content_override": [1]}, 400, "M_BAD_JSON"
    ),
    "create-3pid-invite": Case(
        "POST",
        "/createRoom",
        {"invite_3pid": [{"id_server": "x", "medium": "email", "address": "a@b.c"}]},
        400,
        "M_UNKNOWN",
    ),
    "create-version-number": Case("POST", "/createRoom", {"room_version": 11}, 400, "M_BAD_JSON"),
    "join-reason-number": Case(
        "POST", "/rooms/{room}/join", {"reason": 5}, 400, "M_BAD_JSON", "carol"
    ),
    "leave-reason-list": Case("POST", "/rooms/{room}/leave", {"reason": ["x"]}, 400, "M_BAD_JSON"),
    "invite-user-number": Case(
        "POST", "/rooms/{room}/invite", {"user_id": 5}, 400, "M_BAD_JSON", "alice"
    ),
    "invite-no-user": Case("POST", "/rooms/{room}/invite", {}, 400, "M_BAD_JSON", "alice"),
    "invite-3pid": Case(
        "POST",
        "/rooms/{room}/invite",
        {"id_server": "x", "medium": "email", "address": "a@b.c"},
        400,
        "M_UNKNOWN",
        "alice",
    ),
    "kick-reason-number": Case(
        "POST", "/rooms/{room}/kick", {"user_id": "{bob}", "reason": 1}, 400, "M_BAD_JSON", "alice"
    ),
    "ban-no-user": Case("POST", "/rooms/{room}/ban", {"reason": "x"}, 400, "M_BAD_JSON", "alice"),
    "redact-reason-number": Case(
        "PUT", "/rooms/{room}/redact/{event}/t9", {"reason": 5}, 400, "M_BAD_JSON", "alice"
    ),
    "redaction-via-send-without-redacts": Case(
        "PUT",
        "/rooms/{room}/send/m.room.redaction/t9",
        {"reason": "x"},
        400,
        "M_BAD_JSON",
        "alice",
    ),
    "power-levels-string-level": Case(
        "PUT", "/rooms/{room}/state/m.room.power_levels", PL_BAD, 400, "M_BAD_JSON", "alice"
    ),
    "power-levels-bad-user-id": Case(
        "PUT",
        "/rooms/{room}/state/m.room.power_levels",
        {"users": {"alice": 100}},
        400,
        "M_BAD_JSON",
        "alice",
    ),
    "member-without-membership": Case(
        "PUT",
        "/rooms/{room}/state/m.room.member/{alice}",
        {"displayname": "x"},
        400,
        "M_BAD_JSON",
        "alice",
    ),
    "member-unknown-membership": Case(
        "PUT",
        "/rooms/{room}/state/m.room.member/{alice}",
        {"membership": "party"},
        400,
        "M_BAD_JSON",
        "alice",
    ),
    "canonical-alias-elsewhere": Case(
        "PUT",
        "/rooms/{room}/state/m.room.canonical_alias",
        {"alias": "#nope:tumar.test"},
        400,
        "M_BAD_ALIAS",
        "alice",
    ),
    "canonical-alias-number": Case(
        "PUT",
        "/rooms/{room}/state/m.room.canonical_alias",
        {"alias": 5},
        400,
        "M_BAD_ALIAS",
        "alice",
    ),
    "canonical-alias-alt-not-list": Case(
        "PUT",
        "/rooms/{room}/state/m.room.canonical_alias",
        {"alt_aliases": "#lobby:tumar.test"},
        400,
        "M_BAD_JSON",
        "alice",
    ),
    "receipt-thread-number": Case(
        "POST", "/rooms/{room}/receipt/m.read/{event}", {"thread_id": 1}, 400, "M_BAD_JSON"
    ),
    "receipt-unknown-type": Case(
        "POST", "/rooms/{room}/receipt/m.seen/{event}", {}, 400, "M_INVALID_PARAM"
    ),
    "read-markers-number": Case(
        "POST", "/rooms/{room}/read_markers", {"m.fully_read": 5}, 400, "M_BAD_JSON"
    ),
    "typing-string": Case(
        "PUT", "/rooms/{room}/typing/{bob}", {"typing": "yes"}, 400, "M_BAD_JSON"
    ),
    "typing-missing": Case("PUT", "/rooms/{room}/typing/{bob}", {}, 400, "M_BAD_JSON"),
    "typing-timeout-string": Case(
        "PUT", "/rooms/{room}/typing/{bob}", {"typing": True, "timeout": "10"}, 400, "M_BAD_JSON"
    ),
    "filter-limit-string": Case(
        "POST", "/user/{bob}/filter", {"room": {"timeline": {"limit": "5"}}}, 400, "M_BAD_JSON"
    ),
    "filter-limit-negative": Case(
        "POST", "/user/{bob}/filter", {"room": {"timeline": {"limit": -1}}}, 400, "M_BAD_JSON"
    ),
    "filter-types-string": Case(
        "POST",
        "/user/{bob}/filter",
        {"room": {"timeline": {"types": "m.room.message"}}},
        400,
        "M_BAD_JSON",
    ),
    "fully-read-account-data": Case(
        "PUT",
        "/user/{bob}/rooms/{room}/account_data/m.fully_read",
        {"event_id": "{event}"},
        400,
        "M_BAD_JSON",
    ),
    "push-rules-account-data": Case(
        "PUT", "/user/{bob}/account_data/m.push_rules", {"global": {}}, 400, "M_BAD_JSON"
    ),
    "displayname-number": Case(
        "PUT", "/profile/{bob}/displayname", {"displayname": 5}, 400, "M_BAD_JSON"
    ),
    "displayname-missing": Case(
        "PUT", "/profile/{bob}/displayname", {"avatar_url": "x"}, 400, "M_MISSING_PARAM"
    ),
    "displayname-too-long": Case(
        "PUT", "/profile/{bob}/displayname", {"displayname": "x" * 2000}, 400, "M_TOO_LARGE"
    ),
    "profile-unknown-field": Case(
        "PUT", "/profile/{bob}/status", {"status": "x"}, 400, "M_UNRECOGNIZED"
    ),
    "directory-term-number": Case(
        "POST", "/user_directory/search", {"search_term": 5}, 400, "M_BAD_JSON"
    ),
    "directory-limit-zero": Case(
        "POST", "/user_directory/search", {"search_term": "a", "limit": 0}, 400, "M_BAD_JSON"
    ),
    "directory-missing-term": Case("POST", "/user_directory/search", {}, 400, "M_BAD_JSON"),
}


# ---- bad query parameters -----------------------------------------------------------------


def query(path: str, status: int, errcode: str, **params: Any) -> Case:
    return Case("GET", path, None, status, errcode, "bob", params)


BAD_QUERIES = {
    "messages-limit-negative": query("/rooms/{room}/messages", 400, "M_INVALID_PARAM", limit=-1),
    "messages-limit-text": query("/rooms/{room}/messages", 400, "M_INVALID_PARAM", limit="ten"),
    "messages-dir": query("/rooms/{room}/messages", 400, "M_INVALID_PARAM", dir="sideways"),
    "messages-from": query("/rooms/{room}/messages", 400, "M_INVALID_PARAM", **{"from": "x"}),
    "messages-to": query("/rooms/{room}/messages", 400, "M_INVALID_PARAM", to="s-1_0"),
    "members-at": query("/rooms/{room}/members", 400, "M_INVALID_PARAM", at="nope"),
    "sync-since": query("/sync", 400, "M_INVALID_PARAM", since="nope"),
    "sync-since-negative": query("/sync", 400, "M_INVALID_PARAM", since="s-5_0"),
    "sync-since-huge": query("/sync", 400, "M_INVALID_PARAM", since="s" + "9" * 30 + "_0"),
    "sync-timeout": query("/sync", 400, "M_INVALID_PARAM", timeout=-5),
    "sync-timeout-text": query("/sync", 400, "M_INVALID_PARAM", timeout="soon"),
    "sync-full-state": query("/sync", 400, "M_INVALID_PARAM", full_state="maybe"),
    "sync-filter-not-json": query("/sync", 400, "M_BAD_JSON", filter="{not json"),
    "sync-filter-limit-text": query(
        "/sync", 400, "M_BAD_JSON", filter='{"room": {"timeline": {"limit": "x"}}}'
    ),
    "sync-filter-room-list": query("/sync", 400, "M_BAD_JSON", filter='{"room": []}'),
    "sync-filter-event-fields": query("/sync", 400, "M_BAD_JSON", filter='{"event_fields": "t"}'),
    "sync-filter-unknown-id": query("/sync", 404, "M_NOT_FOUND", filter="12345"),
    "sync-filter-bad-id": query("/sync", 404, "M_NOT_FOUND", filter="abc"),
    "messages-filter-not-json": query(
        "/rooms/{room}/messages", 400, "M_BAD_JSON", filter="{not json"
    ),
    "messages-filter-list": query("/rooms/{room}/messages", 400, "M_BAD_JSON", filter="[]"),
    "messages-filter-limit": query(
        "/rooms/{room}/messages", 400, "M_BAD_JSON", filter='{"limit": -1}'
    ),
    "messages-filter-types": query(
        "/rooms/{room}/messages", 400, "M_BAD_JSON", filter='{"types": "m.room.message"}'
    ),
    "register-kind": Case("POST", "/register", {}, 400, "M_INVALID_PARAM", None, {"kind": "x"}),
}


# ---- oversized events ---------------------------------------------------------------------


BIG = {"msgtype": "m.text", "body": "x" * 66_000}
TOO_BIG = {
    "message": Case("PUT", "/rooms/{room}/send/m.room.message/big1", BIG, 413, "M_TOO_LARGE"),
    "state": Case("PUT", "/rooms/{room}/state/org.example.big", BIG, 413, "M_TOO_LARGE", "alice"),
    "state-with-key": Case(
        "PUT", "/rooms/{room}/state/org.example.big/key", BIG, 413, "M_TOO_LARGE", "alice"
    ),
    "account-data": Case(
        "PUT", "/user/{bob}/account_data/org.example.big", BIG, 413, "M_TOO_LARGE"
    ),
    "room-account-data": Case(
        "PUT", "/user/{bob}/rooms/{room}/account_data/org.example.big", BIG, 413, "M_TOO_LARGE"
    ),
    "initial-state": Case(
        "POST",
        "/createRoom",
        {"initial_state": [{"type": "org.example.big", "content": BIG}]},
        413,
        "M_TOO_LARGE",
    ),
}


async def test_event_just_under_the_limit_is_accepted(api: Api, world: World) -> None:
    body = {"msgtype": "m.text", "body": "x" * 60_000}
    await api.call(
        "PUT", world.fill("/rooms/{room}/send/m.room.message/ok1"), user=world.alice, json=body
    )


# ---- unknown rooms and rooms the user is not in ------------------------------------------

# (method, path with {r} for the room, body, (status, errcode) for an unknown room,
#  (status, errcode) for a room the user is not in)
ROOM_ENDPOINTS: list[tuple[str, str, Any, tuple[int, str], tuple[int, str]]] = [
    (
        "PUT",
        "/rooms/{r}/send/m.room.message/t1",
        {"body": "x", "msgtype": "m.text"},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "PUT",
        "/rooms/{r}/state/m.room.topic",
        {"topic": "x"},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "PUT",
        "/rooms/{r}/state/org.example.x/{carol}",
        {"a": 1},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    ("GET", "/rooms/{r}/state", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/state/m.room.create", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/state/m.room.create/", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/messages", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/members", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/joined_members", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("GET", "/rooms/{r}/event/{secret_event}", None, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    ("PUT", "/rooms/{r}/redact/{secret_event}/t2", {}, (403, "M_FORBIDDEN"), (403, "M_FORBIDDEN")),
    (
        "POST",
        "/rooms/{r}/receipt/m.read/{secret_event}",
        {},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "POST",
        "/rooms/{r}/read_markers",
        {"m.fully_read": "{secret_event}"},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "PUT",
        "/rooms/{r}/typing/{carol}",
        {"typing": True},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "PUT",
        "/user/{carol}/rooms/{r}/account_data/org.example.x",
        {"a": 1},
        (403, "M_FORBIDDEN"),
        (403, "M_FORBIDDEN"),
    ),
    (
        "GET",
        "/user/{carol}/rooms/{r}/account_data/org.example.x",
        None,
        (404, "M_NOT_FOUND"),
        (404, "M_NOT_FOUND"),
    ),
    ("POST", "/rooms/{r}/join", {}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    ("POST", "/join/{r}", {}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    ("POST", "/rooms/{r}/leave", {}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    ("POST", "/rooms/{r}/forget", {}, (404, "M_NOT_FOUND"), (404, "M_NOT_FOUND")),
    ("POST", "/rooms/{r}/invite", {"user_id": "{bob}"}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    ("POST", "/rooms/{r}/kick", {"user_id": "{alice}"}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    ("POST", "/rooms/{r}/ban", {"user_id": "{alice}"}, (404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")),
    (
        "POST",
        "/rooms/{r}/unban",
        {"user_id": "{alice}"},
        (404, "M_NOT_FOUND"),
        (403, "M_FORBIDDEN"),
    ),
]
UNKNOWN_ROOMS = {
    f"{method} {path}": Case(
        method, path.replace("{r}", q("!unknown:tumar.test")), body, *unknown, "carol"
    )
    for method, path, body, unknown, _ in ROOM_ENDPOINTS
}
ROOMS_NOT_JOINED = {
    f"{method} {path}": Case(method, path.replace("{r}", "{secret}"), body, *outsider, "carol")
    for method, path, body, _, outsider in ROOM_ENDPOINTS
}


# ---- invalid identifiers ------------------------------------------------------------------

INVALID_IDS = {
    "send-room-id": Case(
        "PUT", "/rooms/lobby/send/m.room.message/t1", {"body": "x"}, 400, "M_INVALID_PARAM"
    ),
    "send-room-no-server": Case(
        "PUT", "/rooms/!abc/send/m.room.message/t1", {}, 400, "M_INVALID_PARAM"
    ),
    "send-long-txn": Case(
        "PUT", "/rooms/{room}/send/m.room.message/" + "t" * 300, {}, 400, "M_INVALID_PARAM"
    ),
    "send-long-type": Case(
        "PUT", "/rooms/{room}/send/" + "t" * 300 + "/t1", {}, 400, "M_INVALID_PARAM"
    ),
    "state-room-id": Case(
        "PUT", "/rooms/lobby/state/m.room.topic", {"topic": "x"}, 400, "M_INVALID_PARAM"
    ),
    "state-long-key": Case(
        "PUT", "/rooms/{room}/state/org.example.x/" + "k" * 300, {}, 400, "M_INVALID_PARAM", "alice"
    ),
    "get-state-room-id": Case("GET", "/rooms/lobby/state", None, 400, "M_INVALID_PARAM"),
    "messages-room-id": Case("GET", "/rooms/lobby/messages", None, 400, "M_INVALID_PARAM"),
    "members-room-id": Case("GET", "/rooms/lobby/members", None, 400, "M_INVALID_PARAM"),
    "join-room-id": Case("POST", "/rooms/lobby/join", {}, 400, "M_INVALID_PARAM"),
    "join-alias-no-server": Case("POST", "/join/%23lobby", {}, 400, "M_INVALID_PARAM"),
    "join-neither": Case("POST", "/join/lobby", {}, 400, "M_INVALID_PARAM"),
    "leave-room-id": Case("POST", "/rooms/lobby/leave", {}, 400, "M_INVALID_PARAM"),
    "forget-room-id": Case("POST", "/rooms/lobby/forget", {}, 400, "M_INVALID_PARAM"),
    "invite-user-id": Case(
        "POST", "/rooms/{room}/invite", {"user_id": "carol"}, 400, "M_INVALID_PARAM", "alice"
    ),
    "invite-user-id-spaces": Case(
        "POST",
        "/rooms/{room}/invite",
        {"user_id": "@ca rol:tumar.test"},
        400,
        "M_INVALID_PARAM",
        "alice",
    ),
    "kick-user-id": Case(
        "POST", "/rooms/{room}/kick", {"user_id": "bob"}, 400, "M_INVALID_PARAM", "alice"
    ),
    "ban-user-id": Case(
        "POST", "/rooms/{room}/ban", {"user_id": "@bob"}, 400, "M_INVALID_PARAM", "alice"
    ),
    "create-invite-user-id": Case(
        "POST", "/createRoom", {"invite": ["carol"]}, 400, "M_INVALID_PARAM"
    ),
    "create-alias-colon": Case(
        "POST", "/createRoom", {"room_alias_name": "a:b"}, 400, "M_INVALID_PARAM"
    ),
    "create-alias-empty": Case(
        "POST", "/createRoom", {"room_alias_name": ""}, 400, "M_INVALID_PARAM"
    ),
    "redact-event-id": Case(
        "PUT", "/rooms/{room}/redact/notanevent/t1", {}, 400, "M_INVALID_PARAM", "alice"
    ),
    "redact-room-id": Case(
        "PUT", "/rooms/lobby/redact/{event}/t1", {}, 400, "M_INVALID_PARAM", "alice"
    ),
    "receipt-event-id": Case(
        "POST", "/rooms/{room}/receipt/m.read/notanevent", {}, 400, "M_INVALID_PARAM"
    ),
    "receipt-room-id": Case(
        "POST", "/rooms/lobby/receipt/m.read/{event}", {}, 400, "M_INVALID_PARAM"
    ),
    "typing-room-id": Case(
        "PUT", "/rooms/lobby/typing/{bob}", {"typing": True}, 400, "M_INVALID_PARAM"
    ),
    "directory-alias": Case("GET", "/directory/room/lobby", None, 400, "M_INVALID_PARAM"),
    "profile-user-id": Case("GET", "/profile/bob", None, 400, "M_INVALID_PARAM"),
    "set-profile-user-id": Case(
        "PUT", "/profile/bob/displayname", {"displayname": "x"}, 400, "M_INVALID_PARAM"
    ),
    "account-data-user-id": Case(
        "PUT", "/user/bob/account_data/org.example.x", {}, 400, "M_INVALID_PARAM"
    ),
    "room-account-data-room-id": Case(
        "PUT", "/user/{bob}/rooms/lobby/account_data/org.example.x", {}, 400, "M_INVALID_PARAM"
    ),
    "filter-user-id": Case("POST", "/user/bob/filter", {}, 400, "M_INVALID_PARAM"),
    "login-user-id": Case(
        "POST",
        "/login",
        {"type": "m.login.password", "user": "@", "password": "x"},
        403,
        "M_FORBIDDEN",
        None,
    ),
}


# ---- other people's things ---------------------------------------------------------------

OTHER_USERS = {
    "account-data": Case("PUT", "/user/{alice}/account_data/org.example.x", {}, 403, "M_FORBIDDEN"),
    "get-account-data": Case(
        "GET", "/user/{alice}/account_data/org.example.x", None, 403, "M_FORBIDDEN"
    ),
    "room-account-data": Case(
        "PUT", "/user/{alice}/rooms/{room}/account_data/org.example.x", {}, 403, "M_FORBIDDEN"
    ),
    "filter": Case("POST", "/user/{alice}/filter", {}, 403, "M_FORBIDDEN"),
    "profile": Case(
        "PUT", "/profile/{alice}/displayname", {"displayname": "x"}, 403, "M_FORBIDDEN"
    ),
    "typing": Case("PUT", "/rooms/{room}/typing/{alice}", {"typing": True}, 403, "M_FORBIDDEN"),
    "device": Case("PUT", "/devices/NOTMINE", {"display_name": "x"}, 404, "M_NOT_FOUND"),
    "redact": Case("PUT", "/rooms/{room}/redact/{event}/t1", {}, 403, "M_FORBIDDEN"),
    "redact-unknown-event": Case("PUT", "/rooms/{room}/redact/$nope/t1", {}, 404, "M_NOT_FOUND"),
    "redact-event-of-other-room": Case(
        "PUT", "/rooms/{room}/redact/{secret_event}/t1", {}, 404, "M_NOT_FOUND", "alice"
    ),
    "receipt-unknown-event": Case(
        "POST", "/rooms/{room}/receipt/m.read/$nope", {}, 404, "M_NOT_FOUND"
    ),
    "receipt-event-of-other-room": Case(
        "POST", "/rooms/{room}/receipt/m.read/{secret_event}", {}, 404, "M_NOT_FOUND"
    ),
    "state-of-other-user": Case(
        "PUT", "/rooms/{room}/state/org.example.x/{alice}", {}, 403, "M_FORBIDDEN"
    ),
    "name-without-power": Case(
        "PUT", "/rooms/{room}/state/m.room.name", {"name": "x"}, 403, "M_FORBIDDEN"
    ),
    "power-levels-without-power": Case(
        "PUT",
        "/rooms/{room}/state/m.room.power_levels",
        {"users": {"{bob}": 100}},
        403,
        "M_FORBIDDEN",
    ),
    "raise-own-level-above-own": Case(
        "PUT",
        "/rooms/{room}/state/m.room.power_levels",
        {"users": {"{alice}": 100, "{bob}": 101}},
        403,
        "M_FORBIDDEN",
        "alice",
    ),
    "fully-read-unknown-event": Case(
        "POST", "/rooms/{room}/read_markers", {"m.fully_read": "$nope"}, 404, "M_NOT_FOUND"
    ),
    "fully-read-event-of-other-room": Case(
        "POST",
        "/rooms/{room}/read_markers",
        {"m.fully_read": "{secret_event}"},
        404,
        "M_NOT_FOUND",
    ),
    "read-markers-one-bad": Case(
        "POST",
        "/rooms/{room}/read_markers",
        {"m.fully_read": "{event}", "m.read": "$nope"},
        404,
        "M_NOT_FOUND",
    ),
    "read-markers-bad-private": Case(
        "POST",
        "/rooms/{room}/read_markers",
        {"m.fully_read": "{event}", "m.read": "{event}", "m.read.private": "$nope"},
        404,
        "M_NOT_FOUND",
    ),
    "fully-read-receipt-unknown-event": Case(
        "POST", "/rooms/{room}/receipt/m.fully_read/$nope", {}, 404, "M_NOT_FOUND"
    ),
}


async def test_delete_device_challenge_changes_nothing(api: Api, world: World) -> None:
    """The 401 of user-interactive auth carries flows, not an error: check it by hand."""
    assert api.services is not None
    before = await snapshot(api.services)
    for body in ({}, {"auth": {"type": "m.login.password", "user": "bob", "password": "nope"}}):
        resp = await api.raw(
            "DELETE", world.fill("/devices/{bob_device}"), user=world.bob, json=body
        )
        assert resp.status_code == 401
        assert resp.json()["flows"] == [{"stages": ["m.login.password"]}]
    assert_same(before, await snapshot(api.services), login_refused=True)


# ---- the tables ---------------------------------------------------------------------------

TABLES = {
    "wrong-types-and-values": WRONG_TYPES,
    "bad-query-parameters": BAD_QUERIES,
    "events-over-64-kib": TOO_BIG,
    "unknown-rooms": UNKNOWN_ROOMS,
    "rooms-not-joined": ROOMS_NOT_JOINED,
    "invalid-identifiers": INVALID_IDS,
    "other-peoples-things": OTHER_USERS,
}


@pytest.mark.parametrize("table", list(TABLES))
async def test_table(api: Api, world: World, table: str) -> None:
    """Every row is refused and changes nothing, so one world serves the whole table; every
    failing row is reported, not just the first."""
    rows = TABLES[table]
    failures = []
    for name, case in rows.items():
        try:
            await refused(
                api,
                case.method,
                world.fill(case.path),
                case.status,
                case.errcode,
                user=world.user(case.user),
                json=world.fill(case.body),
                params=case.params,
            )
        except AssertionError as exc:
            failures.append(f"{name}: {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} of {len(rows)} rows failed:\n" + "\n".join(failures)


# ---- forbidden membership transitions -----------------------------------------------------


async def test_forbidden_membership_transitions(api: Api, world: World) -> None:
    w = world
    room = q(w.room)
    dave = await api.register("dave")
    # Joining an invite-only room uninvited.
    await refused(api, "POST", f"/rooms/{q(w.secret)}/join", 403, "M_FORBIDDEN", user=w.carol)
    # Leaving a room one is not in.
    await refused(api, "POST", f"/rooms/{room}/leave", 403, "M_FORBIDDEN", user=w.carol, json={})
    # Kicking, banning, unbanning without power; kicking someone more powerful.
    for action, target in (("kick", w.alice), ("ban", w.alice), ("kick", w.bob)):
        await refused(
            api,
            "POST",
            f"/rooms/{room}/{action}",
            403,
            "M_FORBIDDEN",
            user=w.bob if target is w.alice else w.carol,
            json={"user_id": target.user_id},
        )
    # Inviting someone who is already in the room.
    await refused(
        api,
        "POST",
        f"/rooms/{room}/invite",
        403,
        "M_FORBIDDEN",
        user=w.alice,
        json={"user_id": w.bob.user_id},
    )
    # Inviting to a public room without the invite level (50 in public_chat).
    await refused(
        api,
        "POST",
        f"/rooms/{room}/invite",
        403,
        "M_FORBIDDEN",
        user=w.bob,
        json={"user_id": dave.user_id},
    )
    # Inviting a user who does not exist, or lives on another server.
    await refused(
        api,
        "POST",
        f"/rooms/{room}/invite",
        404,
        "M_NOT_FOUND",
        user=w.alice,
        json={"user_id": "@ghost:tumar.test"},
    )
    await refused(
        api,
        "POST",
        f"/rooms/{room}/invite",
        403,
        "M_FORBIDDEN",
        user=w.alice,
        json={"user_id": "@dave:elsewhere.test"},
    )
    # Joining on behalf of someone else through the state endpoint.
    await refused(
        api,
        "PUT",
        f"/rooms/{room}/state/m.room.member/{q(dave.user_id)}",
        403,
        "M_FORBIDDEN",
        user=w.alice,
        json={"membership": "join"},
    )
    # Knocking on a room that does not accept knocks.
    await refused(
        api,
        "PUT",
        f"/rooms/{q(w.secret)}/state/m.room.member/{q(dave.user_id)}",
        403,
        "M_FORBIDDEN",
        user=dave,
        json={"membership": "knock"},
    )
    # Forgetting a room one is still in.
    await refused(api, "POST", f"/rooms/{room}/forget", 400, "M_UNKNOWN", user=w.bob, json={})
    # A banned user cannot join, leave or be invited.
    await api.call("POST", f"/rooms/{room}/ban", user=w.alice, json={"user_id": w.bob.user_id})
    await refused(api, "POST", f"/rooms/{room}/join", 403, "M_FORBIDDEN", user=w.bob, json={})
    await refused(api, "POST", f"/join/{room}", 403, "M_FORBIDDEN", user=w.bob, json={})
    await refused(api, "POST", f"/rooms/{room}/leave", 403, "M_FORBIDDEN", user=w.bob, json={})
    await refused(
        api,
        "POST",
        f"/rooms/{room}/invite",
        403,
        "M_FORBIDDEN",
        user=w.alice,
        json={"user_id": w.bob.user_id},
    )
    # The alias resolves, but joining through it is refused just the same.
    await refused(
        api, "POST", f"/join/{q('#lobby:tumar.test')}", 403, "M_FORBIDDEN", user=w.bob, json={}
    )


async def test_create_room_refusals_leave_no_trace(api: Api, world: World) -> None:
    w = world
    await refused(
        api,
        "POST",
        "/createRoom",
        400,
        "M_ROOM_IN_USE",
        user=w.bob,
        json={"room_alias_name": "lobby", "name": "copy"},
    )
    await refused(
        api,
        "POST",
        "/createRoom",
        404,
        "M_NOT_FOUND",
        user=w.bob,
        json={"invite": [w.carol.user_id, "@ghost:tumar.test"]},
    )
    await refused(
        api,
        "POST",
        "/createRoom",
        403,
        "M_FORBIDDEN",
        user=w.bob,
        json={"invite": ["@dave:elsewhere.test"]},
    )
    await refused(
        api,
        "POST",
        "/createRoom",
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
        user=w.bob,
        json={"room_version": "9"},
    )
    # Overrides that leave the creator without power fail halfway: nothing is kept.
    await refused(
        api,
        "POST",
        "/createRoom",
        403,
        "M_FORBIDDEN",
        user=w.bob,
        json={"power_level_content_override": {"users": {}}, "room_alias_name": "halfway"},
    )
    await refused(
        api,
        "POST",
        "/createRoom",
        403,
        "M_FORBIDDEN",
        user=w.bob,
        json={"initial_state": [{"type": "m.room.create", "content": {}}]},
    )
    await refused(
        api,
        "POST",
        "/createRoom",
        403,
        "M_FORBIDDEN",
        user=w.bob,
        json={
            "initial_state": [
                {
                    "type": "m.room.member",
                    "state_key": w.carol.user_id,
                    "content": {"membership": "join"},
                }
            ]
        },
    )
    # Initial state is checked like the same state sent later.
    await refused(
        api,
        "POST",
        "/createRoom",
        400,
        "M_BAD_JSON",
        user=w.bob,
        json={"initial_state": [{"type": "m.room.power_levels", "content": PL_BAD}]},
    )
