"""End to end with matrix-nio: two ``AsyncClient``s against a live tumar, on both backends.

Every wait is a bounded long-poll ``sync`` (never a sleep): ``sync_until`` keeps syncing until
a check on the response succeeds, and fails the test after ``WAIT_S`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from nio import (
    AsyncClient,
    Event,
    InviteInfo,
    InviteMemberEvent,
    InviteNameEvent,
    JoinResponse,
    LoginResponse,
    LogoutResponse,
    ProfileSetDisplayNameResponse,
    ReceiptEvent,
    RedactedEvent,
    RedactionEvent,
    RegisterResponse,
    RoomCreateEvent,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    RoomReadMarkersResponse,
    RoomRedactResponse,
    RoomSendResponse,
    RoomTypingResponse,
    SyncError,
    SyncResponse,
    TypingNoticeEvent,
    UpdateReceiptMarkerResponse,
    WhoamiError,
    WhoamiResponse,
)

from tests.support.harness import PASSWORD, LiveServer

pytestmark = pytest.mark.slow

SERVER_NAME = "tumar.test"
ALICE = f"@alice:{SERVER_NAME}"
BOB = f"@bob:{SERVER_NAME}"
POLL_MS = 8_000  # one long-poll; below the test server's sync_max_timeout_ms (10 s)
WAIT_S = 30.0  # bound of every "eventually"
T = TypeVar("T")


# ---- helpers --------------------------------------------------------------------------------


async def sync_until(
    client: AsyncClient, check: Callable[[SyncResponse], T | None], what: str
) -> tuple[T, SyncResponse]:
    """Long-poll ``client`` until ``check`` returns something truthy; return it and the sync."""

    async def loop() -> tuple[T, SyncResponse]:
        while True:
            resp = await client.sync(timeout=POLL_MS)
            assert isinstance(resp, SyncResponse), f"{client.user_id}: sync failed: {resp}"
            found = check(resp)
            if found:
                return found, resp

    try:
        return await asyncio.wait_for(loop(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"{client.user_id} did not see {what} within {WAIT_S}s")


def timeline(resp: SyncResponse, room_id: str) -> list[Event]:
    room = resp.rooms.join.get(room_id)
    return list(room.timeline.events) if room is not None else []


def ephemeral(resp: SyncResponse, room_id: str) -> list[Any]:
    room = resp.rooms.join.get(room_id)
    return list(room.ephemeral) if room is not None else []


def event_with_id(event_id: str, room_id: str) -> Callable[[SyncResponse], Event | None]:
    def check(resp: SyncResponse) -> Event | None:
        return next((e for e in timeline(resp, room_id) if e.event_id == event_id), None)

    return check


async def register_and_login(url: str, localpart: str) -> AsyncClient:
    """Register through nio, then log in again with a fresh nio client (a second device)."""
    user_id = f"@{localpart}:{SERVER_NAME}"
    registrar = AsyncClient(url)
    try:
        reg = await registrar.register(localpart, PASSWORD, device_name="nio register")
        assert isinstance(reg, RegisterResponse), reg
        assert reg.user_id == user_id
        assert reg.access_token and reg.device_id
    finally:
        await registrar.close()

    client = AsyncClient(url, user_id)
    login = await client.login(PASSWORD, device_name="nio")
    assert isinstance(login, LoginResponse), login
    assert (login.user_id, client.user_id) == (user_id, user_id)
    assert login.device_id != reg.device_id, "a login must open a new device"
    assert login.access_token != reg.access_token
    who = await client.whoami()
    assert isinstance(who, WhoamiResponse), who
    assert (who.user_id, who.device_id) == (user_id, login.device_id)
    return client


async def send_text(client: AsyncClient, room_id: str, body: str) -> str:
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(resp, RoomSendResponse), resp
    assert resp.event_id.startswith("$")
    return str(resp.event_id)


async def delivered(
    sender: AsyncClient, receiver: AsyncClient, room_id: str, body: str
) -> tuple[str, SyncResponse]:
    """``sender`` sends ``body`` while ``receiver`` is already long-polling; the receiver must
    get it promptly (woken, not at the end of its poll) with the right id, sender and body."""
    watch = asyncio.create_task(
        sync_until(
            receiver,
            lambda r: next(
                (
                    e
                    for e in timeline(r, room_id)
                    if isinstance(e, RoomMessageText) and e.body == body
                ),
                None,
            ),
            f"the message {body!r}",
        )
    )
    started = time.monotonic()
    try:
        event_id = await send_text(sender, room_id, body)
    except BaseException:
        watch.cancel()
        raise
    seen, resp = await watch
    elapsed = time.monotonic() - started
    assert (seen.event_id, seen.sender, seen.body) == (event_id, sender.user_id, body)
    assert elapsed < POLL_MS / 1000 / 2, f"the long-poll was not woken ({elapsed:.1f}s)"
    return event_id, resp


async def shared_room(alice: AsyncClient, bob: AsyncClient) -> str:
    """Alice creates a room inviting Bob; Bob sees the invite in a long-poll and joins;
    Alice sees the join."""
    first = await bob.sync(timeout=0)  # initial sync: nothing yet
    assert isinstance(first, SyncResponse), first
    assert not first.rooms.invite and not first.rooms.join

    watch = asyncio.create_task(
        sync_until(bob, lambda r: list(r.rooms.invite.items()), "the invite")
    )
    created = await alice.room_create(name="Planning", invite=[BOB])
    if not isinstance(created, RoomCreateResponse):
        watch.cancel()
        pytest.fail(f"createRoom failed: {created}")
    room_id = str(created.room_id)
    invites, _ = await watch
    assert [rid for rid, _ in invites] == [room_id]
    info = invites[0][1]
    assert isinstance(info, InviteInfo)
    members = [e for e in info.invite_state if isinstance(e, InviteMemberEvent)]
    mine = [e for e in members if e.state_key == BOB]
    assert len(mine) == 1, info.invite_state
    assert (mine[0].membership, mine[0].sender) == ("invite", ALICE)
    names = [e.name for e in info.invite_state if isinstance(e, InviteNameEvent)]
    assert names == ["Planning"]
    assert bob.invited_rooms[room_id].name == "Planning"

    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    assert joined.room_id == room_id

    def bob_joined(resp: SyncResponse) -> RoomMemberEvent | None:
        return next(
            (
                e
                for e in timeline(resp, room_id)
                if isinstance(e, RoomMemberEvent) and e.state_key == BOB and e.membership == "join"
            ),
            None,
        )

    join_event, _ = await sync_until(alice, bob_joined, "Bob's join")
    assert join_event.sender == BOB
    room = alice.rooms[room_id]
    assert set(room.users) == {ALICE, BOB}
    assert room.name == "Planning"
    _, bob_sync = await sync_until(bob, lambda r: room_id in r.rooms.join, "the joined room")
    assert room_id not in bob_sync.rooms.invite
    assert room_id in bob.rooms and room_id not in bob.invited_rooms
    assert set(bob.rooms[room_id].users) == {ALICE, BOB}
    return room_id


@pytest.fixture
async def clients(live_server: LiveServer) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    made: list[AsyncClient] = []
    try:
        for name in ("alice", "bob"):
            made.append(await register_and_login(live_server.url, name))
        yield made[0], made[1]
    finally:
        for client in made:
            await client.close()


# ---- tests ----------------------------------------------------------------------------------


async def test_invite_join_messages_and_history(
    clients: tuple[AsyncClient, AsyncClient],
) -> None:
    alice, bob = clients
    room_id = await shared_room(alice, bob)

    sent: list[tuple[str, str, str]] = []  # (event id, sender, body) in sending order
    for i in range(3):
        eid, _ = await delivered(alice, bob, room_id, f"hello bob {i}")
        sent.append((eid, ALICE, f"hello bob {i}"))
        eid, _ = await delivered(bob, alice, room_id, f"hello alice {i}")
        sent.append((eid, BOB, f"hello alice {i}"))
    eid, last_sync = await delivered(alice, bob, room_id, "last one")
    sent.append((eid, ALICE, "last one"))

    # Page back from the prev_batch of Bob's last timeline until the room's create event.
    tail = timeline(last_sync, room_id)
    assert tail and tail[-1].event_id == eid
    token = last_sync.rooms.join[room_id].timeline.prev_batch
    assert token
    older: list[Event] = []
    pages = 0
    while not any(isinstance(e, RoomCreateEvent) for e in older):
        assert token, "pagination ended before the create event"
        assert pages < 50, "pagination does not terminate"
        page = await bob.room_messages(room_id, start=token, limit=3)
        assert isinstance(page, RoomMessagesResponse), page
        assert page.start == token
        assert page.chunk or page.end is None
        older.extend(page.chunk)
        token = page.end
        pages += 1
    assert pages >= 3, "the history should need several pages of 3"

    history = list(reversed(older)) + tail
    ids = [e.event_id for e in history]
    assert len(ids) == len(set(ids)), "an event was returned twice"
    assert isinstance(history[0], RoomCreateEvent)
    assert history[0].sender == ALICE
    assert not any(isinstance(e, RoomCreateEvent) for e in history[1:])
    memberships = [(e.state_key, e.membership) for e in history if isinstance(e, RoomMemberEvent)]
    assert memberships == [(ALICE, "join"), (BOB, "invite"), (BOB, "join")]
    texts = [(e.event_id, e.sender, e.body) for e in history if isinstance(e, RoomMessageText)]
    assert texts == sent


async def test_redaction(clients: tuple[AsyncClient, AsyncClient]) -> None:
    alice, bob = clients
    room_id = await shared_room(alice, bob)
    secret, _ = await delivered(alice, bob, room_id, "the password is hunter2")

    redacted = await alice.room_redact(room_id, secret, reason="oops")
    assert isinstance(redacted, RoomRedactResponse), redacted
    assert redacted.event_id != secret

    redaction, _ = await sync_until(
        bob,
        lambda r: next((e for e in timeline(r, room_id) if isinstance(e, RedactionEvent)), None),
        "the redaction",
    )
    assert (redaction.event_id, redaction.sender) == (redacted.event_id, ALICE)
    assert (redaction.redacts, redaction.reason) == (secret, "oops")

    got = await bob.room_get_event(room_id, secret)
    assert isinstance(got, RoomGetEventResponse), got
    assert isinstance(got.event, RedactedEvent), got.event
    assert (got.event.event_id, got.event.sender) == (secret, ALICE)
    assert (got.event.type, got.event.redacter, got.event.reason) == (
        "m.room.message",
        ALICE,
        "oops",
    )
    assert got.event.source["content"] == {}
    assert got.event.source["unsigned"]["redacted_because"]["event_id"] == redacted.event_id

    page = await bob.room_messages(room_id, limit=5)
    assert isinstance(page, RoomMessagesResponse), page
    by_id = {e.event_id: e for e in page.chunk}
    assert isinstance(by_id[secret], RedactedEvent)
    assert "hunter2" not in str(by_id[secret].source)
    assert isinstance(by_id[redacted.event_id], RedactionEvent)
    assert [e.event_id for e in page.chunk[:2]] == [redacted.event_id, secret]


async def test_display_name_change(clients: tuple[AsyncClient, AsyncClient]) -> None:
    alice, bob = clients
    room_id = await shared_room(alice, bob)
    assert alice.rooms[room_id].users[BOB].display_name != "Bob the Builder"

    changed = await bob.set_displayname("Bob the Builder")
    assert isinstance(changed, ProfileSetDisplayNameResponse), changed

    def renamed(resp: SyncResponse) -> RoomMemberEvent | None:
        return next(
            (
                e
                for e in timeline(resp, room_id)
                if isinstance(e, RoomMemberEvent)
                and e.state_key == BOB
                and e.content.get("displayname") == "Bob the Builder"
            ),
            None,
        )

    event, _ = await sync_until(alice, renamed, "Bob's new display name")
    assert (event.sender, event.membership, event.prev_membership) == (BOB, "join", "join")
    assert event.prev_content is not None
    assert event.prev_content.get("displayname") != "Bob the Builder"
    room = alice.rooms[room_id]
    assert room.users[BOB].display_name == "Bob the Builder"
    assert room.user_name(BOB) == "Bob the Builder"
    assert set(room.users) == {ALICE, BOB}


async def test_typing_and_receipts(clients: tuple[AsyncClient, AsyncClient]) -> None:
    alice, bob = clients
    room_id = await shared_room(alice, bob)

    def typing_is(users: list[str]) -> Callable[[SyncResponse], TypingNoticeEvent | None]:
        def check(resp: SyncResponse) -> TypingNoticeEvent | None:
            return next(
                (
                    e
                    for e in ephemeral(resp, room_id)
                    if isinstance(e, TypingNoticeEvent) and e.users == users
                ),
                None,
            )

        return check

    started = await alice.room_typing(room_id, True, timeout=20_000)
    assert isinstance(started, RoomTypingResponse), started
    await sync_until(bob, typing_is([ALICE]), "Alice typing")
    stopped = await alice.room_typing(room_id, False)
    assert isinstance(stopped, RoomTypingResponse), stopped
    await sync_until(bob, typing_is([]), "Alice stop typing")

    # Bob reads Alice's message (read markers); Alice sees his public read receipt.
    from_alice, _ = await delivered(alice, bob, room_id, "did you read this?")
    marked = await bob.room_read_markers(room_id, from_alice, read_event=from_alice)
    assert isinstance(marked, RoomReadMarkersResponse), marked

    def receipt_from(user: str, event_id: str) -> Callable[[SyncResponse], Any]:
        def check(resp: SyncResponse) -> Any:
            return next(
                (
                    r
                    for e in ephemeral(resp, room_id)
                    if isinstance(e, ReceiptEvent)
                    for r in e.receipts
                    if r.user_id == user and r.event_id == event_id
                ),
                None,
            )

        return check

    receipt, _ = await sync_until(alice, receipt_from(BOB, from_alice), "Bob's read receipt")
    assert receipt.receipt_type == "m.read"
    assert receipt.timestamp > 0

    # Alice acknowledges Bob's reply with a threaded receipt; Bob sees it.
    from_bob, _ = await delivered(bob, alice, room_id, "yes")
    acked = await alice.update_receipt_marker(room_id, from_bob)
    assert isinstance(acked, UpdateReceiptMarkerResponse), acked
    receipt, _ = await sync_until(bob, receipt_from(ALICE, from_bob), "Alice's read receipt")
    assert (receipt.receipt_type, receipt.thread_id) == ("m.read", "main")


async def test_logout_revokes_token(
    live_server: LiveServer, clients: tuple[AsyncClient, AsyncClient]
) -> None:
    alice, bob = clients
    old_token, device_id = alice.access_token, alice.device_id
    assert isinstance(await alice.sync(timeout=0), SyncResponse)

    out = await alice.logout()
    assert isinstance(out, LogoutResponse), out
    assert alice.access_token == ""

    stale = AsyncClient(live_server.url, ALICE)
    stale.restore_login(ALICE, device_id, old_token)
    try:
        who = await stale.whoami()
        assert isinstance(who, WhoamiError), who
        assert who.status_code == "M_UNKNOWN_TOKEN"
        synced = await stale.sync(timeout=0)
        assert isinstance(synced, SyncError), synced
        assert synced.status_code == "M_UNKNOWN_TOKEN"
    finally:
        await stale.close()

    # Only that session ended: Bob's token still works.
    still = await bob.whoami()
    assert isinstance(still, WhoamiResponse), still
    assert still.user_id == BOB
