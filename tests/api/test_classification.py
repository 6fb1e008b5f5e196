"""Room labels enforced by the server on both databases: the label every room carries, join
and invite by clearance and audience, raising by room admins, lowering refused to clients,
media downloads by label, and end-to-end encryption per label. Every refusal changes nothing.
See ``docs/classification.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.admin import ADMIN, grant, org, person, two_ministries
from tests.support.e2ee import api_with
from tests.support.harness import Api, User, q
from tests.support.media import download, png_bytes, thumbnail, upload
from tumar.config import Settings
from tumar.store import classification as label_store

LABEL = "kz.tumar.classification"
MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}


@dataclass
class World:
    root: User  # operator
    mof_admin: User
    moh_admin: User
    officer: User  # security officer of mof
    moh_officer: User  # security officer of moh
    alice: User  # mof, official-use
    bob: User  # mof, internal
    erin: User  # mof, external partner, official-use clearance
    hana: User  # moh, official-use
    nobody: User  # no directory entry


async def staff(
    api: Api, root: User, localpart: str, number: str, org_code: str, clearance: str, **extra: Any
) -> User:
    user = await api.register(localpart)
    made = await person(api, root, number, org_code, clearance=clearance, **extra)
    await api.call(
        "PATCH", f"{ADMIN}/people/{made['person_id']}", user=root, json={"user_id": user.user_id}
    )
    return user


async def world(api: Api) -> World:
    root, mof_admin, moh_admin = await two_ministries(api)
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    moh_officer = await api.register("mohofficer")
    await grant(api, root, moh_officer.user_id, "security_officer", "moh")
    return World(
        root,
        mof_admin,
        moh_admin,
        officer,
        moh_officer,
        alice=await staff(api, root, "alice", "1", "mof-it", "official-use"),
        bob=await staff(api, root, "bob", "2", "mof", "internal"),
        erin=await staff(api, root, "erin", "3", "mof", "official-use", kind="external"),
        hana=await staff(api, root, "hana", "4", "moh", "official-use"),
        nobody=await api.register("nobody"),
    )


def labelled(label: str, **audience: Any) -> dict[str, Any]:
    return {"type": LABEL, "state_key": "", "content": {"label": label, **audience}}


async def label_of(api: Api, user: User, room: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.call("GET", f"/rooms/{q(room)}/state/{LABEL}", user=user)
    return body


async def members(api: Api, user: User, room: str) -> dict[str, str]:
    body = await api.call("GET", f"/rooms/{q(room)}/members", user=user)
    return {e["state_key"]: e["content"]["membership"] for e in body["chunk"]}


async def joined_rooms(api: Api, user: User) -> list[str]:
    body = await api.call("GET", "/joined_rooms", user=user)
    return sorted(body["joined_rooms"])


async def invite(api: Api, by: User, room: str, who: User) -> Any:
    return await api.raw("POST", f"/rooms/{q(room)}/invite", user=by, json={"user_id": who.user_id})


# ---- the label every room carries -----------------------------------------------------------


async def test_every_new_room_carries_the_default_label(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    assert await label_of(api, alice, room) == {"label": "internal"}
    levels = await api.call("GET", f"/rooms/{q(room)}/state/m.room.power_levels", user=alice)
    assert levels["events"][LABEL] == 100  # only room admins send it
    direct = await api.create_room(alice, is_direct=True, invite=[bob.user_id])
    assert await label_of(api, alice, direct) == {"label": "internal"}
    # Clients see it as ordinary room state.
    sync = await api.sync(alice)
    state = sync["rooms"]["join"][room]["state"]["events"]
    timeline = sync["rooms"]["join"][room]["timeline"]["events"]
    assert any(
        e["type"] == LABEL and e["content"] == {"label": "internal"} for e in [*state, *timeline]
    )
    async with api.services.db.read() as conn:  # type: ignore[union-attr]
        row = await label_store.get_room_label(conn, room)
    assert row is not None and row.label == "internal"


async def test_defaults_per_room_kind_are_settings(settings: Settings) -> None:
    async with api_with(
        settings, classification_default_room="public", classification_default_direct="internal"
    ) as api:
        alice = await api.register("alice")
        bob = await api.register("bob")
        assert await label_of(api, alice, await api.create_room(alice)) == {"label": "public"}
        direct = await api.create_room(alice, is_direct=True, invite=[bob.user_id])
        assert await label_of(api, alice, direct) == {"label": "internal"}


async def test_the_creator_may_choose_a_higher_label_but_not_a_lower_one(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    assert await label_of(api, w.alice, room) == {"label": "official-use"}
    before = await joined_rooms(api, w.alice)
    body = await api.error(
        "POST",
        "/createRoom",
        403,
        "TUMAR_LABEL_LOWERING",
        user=w.alice,
        json={"initial_state": [labelled("public")]},
    )
    assert "security officer" in body["error"]
    body = await api.error(
        "POST",
        "/createRoom",
        400,
        "TUMAR_UNKNOWN_LABEL",
        user=w.alice,
        json={"initial_state": [labelled("secret")]},
    )
    assert "official-use" in body["error"]  # names the labels there are
    await api.error(
        "POST",
        "/createRoom",
        400,
        "M_BAD_JSON",
        user=w.alice,
        json={"initial_state": [labelled("internal", colour="red")]},
    )
    # Bob cannot create a room above his own clearance.
    body = await api.error(
        "POST",
        "/createRoom",
        403,
        "TUMAR_LABEL_EXCLUDES_MEMBERS",
        user=w.bob,
        json={"initial_state": [labelled("official-use")]},
    )
    assert w.bob.user_id in body["error"]
    assert await joined_rooms(api, w.alice) == before
    assert await joined_rooms(api, w.bob) == []


# ---- join and invite ------------------------------------------------------------------------


async def test_invite_and_join_need_clearance(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(
        w.alice, preset="public_chat", initial_state=[labelled("official-use")]
    )
    resp = await invite(api, w.alice, room, w.bob)
    assert (resp.status_code, resp.json()["errcode"]) == (403, "TUMAR_CLEARANCE")
    assert "internal" in resp.json()["error"] and "official-use" in resp.json()["error"]
    body = await api.error(
        "POST", f"/rooms/{q(room)}/join", 403, "TUMAR_CLEARANCE", user=w.bob, json={}
    )
    assert w.bob.user_id in body["error"]
    await api.error("POST", f"/join/{q(room)}", 403, "TUMAR_CLEARANCE", user=w.bob, json={})
    # A private room answers as Matrix does: the label is not revealed to outsiders.
    private = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    await api.error("POST", f"/rooms/{q(private)}/join", 403, "M_FORBIDDEN", user=w.bob, json={})
    # An account without a directory entry holds the default clearance (internal).
    await api.error(
        "POST", f"/rooms/{q(room)}/join", 403, "TUMAR_CLEARANCE", user=w.nobody, json={}
    )
    assert await members(api, w.alice, room) == {w.alice.user_id: "join"}
    # Cleared people get in, from another ministry too.
    assert (await invite(api, w.alice, room, w.hana)).status_code == 200
    await api.join(w.hana, room)
    assert await members(api, w.alice, room) == {w.alice.user_id: "join", w.hana.user_id: "join"}


async def test_create_room_with_an_uncleared_invitee_creates_nothing(api: Api) -> None:
    w = await world(api)
    await api.error(
        "POST",
        "/createRoom",
        403,
        "TUMAR_CLEARANCE",
        user=w.alice,
        json={
            "initial_state": [labelled("official-use")],
            "invite": [w.hana.user_id, w.bob.user_id],
        },
    )
    assert await joined_rooms(api, w.alice) == []
    assert (await api.sync(w.hana))["rooms"].get("invite", {}) == {}


async def test_the_audience_limits_kinds_and_organisations(api: Api) -> None:
    w = await world(api)
    mof_only = await api.create_room(w.alice, initial_state=[labelled("internal", orgs=["mof"])])
    resp = await invite(api, w.alice, mof_only, w.hana)
    assert (resp.status_code, resp.json()["errcode"]) == (403, "TUMAR_AUDIENCE")
    assert (await invite(api, w.alice, mof_only, w.nobody)).json()["errcode"] == "TUMAR_AUDIENCE"
    assert (await invite(api, w.alice, mof_only, w.bob)).status_code == 200  # mof itself
    officials = await api.create_room(
        w.alice, initial_state=[labelled("internal", kinds=["official"])]
    )
    resp = await invite(api, w.alice, officials, w.erin)
    assert (resp.status_code, resp.json()["errcode"]) == (403, "TUMAR_AUDIENCE")
    assert "official" in resp.json()["error"]
    # External partners stay below official-use whatever their clearance.
    secret = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    resp = await invite(api, w.alice, secret, w.erin)
    assert (resp.status_code, resp.json()["errcode"]) == (403, "TUMAR_AUDIENCE")
    assert "external partner" in resp.json()["error"]
    assert await members(api, w.alice, secret) == {w.alice.user_id: "join"}
    await api.error(
        "POST",
        "/createRoom",
        400,
        "TUMAR_UNKNOWN_ORG",
        user=w.alice,
        json={"initial_state": [labelled("internal", orgs=["nope"])]},
    )


# ---- raising and lowering -------------------------------------------------------------------


async def test_room_admins_raise_the_label(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, preset="public_chat")
    await api.join(w.hana, room)
    path = f"/rooms/{q(room)}/state/{LABEL}"
    # An ordinary member may not (power level 100).
    await api.error("PUT", path, 403, "M_FORBIDDEN", user=w.hana, json={"label": "official-use"})
    await api.call("PUT", path, user=w.alice, json={"label": "official-use"})
    assert await label_of(api, w.alice, room) == {"label": "official-use"}
    async with api.services.db.read() as conn:  # type: ignore[union-attr]
        assert await label_store.rooms_with_label_at_least(
            conn, ("public", "internal", "official-use"), "official-use"
        ) == [room]
    entries = await api.call("GET", f"{ADMIN}/audit", user=w.root, params={"target": room})
    assert [e["action"] for e in entries["entries"]] == ["room.label"]


async def test_raising_above_a_members_clearance_is_refused_naming_them(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, preset="public_chat")
    await api.join(w.bob, room)
    path = f"/rooms/{q(room)}/state/{LABEL}"
    body = await api.error(
        "PUT",
        path,
        403,
        "TUMAR_LABEL_EXCLUDES_MEMBERS",
        user=w.alice,
        json={"label": "official-use"},
    )
    assert w.bob.user_id in body["error"] and w.alice.user_id not in body["error"]
    body = await api.error(
        "PUT",
        path,
        403,
        "TUMAR_LABEL_EXCLUDES_MEMBERS",
        user=w.alice,
        json={"label": "internal", "orgs": ["mof-it"]},
    )
    assert w.bob.user_id in body["error"]
    assert await label_of(api, w.alice, room) == {"label": "internal"}
    await api.call("POST", f"/rooms/{q(room)}/kick", user=w.alice, json={"user_id": w.bob.user_id})
    await api.call("PUT", path, user=w.alice, json={"label": "official-use"})
    assert await label_of(api, w.alice, room) == {"label": "official-use"}


async def test_clients_cannot_lower_a_label(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(
        w.alice, initial_state=[labelled("official-use", kinds=["official"])]
    )
    path = f"/rooms/{q(room)}/state/{LABEL}"
    for content in ({"label": "internal", "kinds": ["official"]}, {"label": "official-use"}):
        body = await api.error("PUT", path, 403, "TUMAR_LABEL_LOWERING", user=w.alice, json=content)
        assert "security officer" in body["error"]
    await api.error("PUT", path, 400, "TUMAR_UNKNOWN_LABEL", user=w.alice, json={"label": "top"})
    await api.error(
        "PUT",
        path,
        400,
        "M_BAD_JSON",
        user=w.alice,
        json={"label": "official-use", "kz.tumar.set_by": w.officer.user_id},
    )
    await api.error(
        "PUT",
        f"/rooms/{q(room)}/state/{LABEL}/other",
        400,
        "M_BAD_JSON",
        user=w.alice,
        json={"label": "official-use"},
    )
    # Redacting the label would empty it: refused too.
    event = await api.call("GET", f"/rooms/{q(room)}/state", user=w.alice)
    label_event = next(e for e in event if e["type"] == LABEL)
    await api.error(
        "PUT",
        f"/rooms/{q(room)}/redact/{q(label_event['event_id'])}/r1",
        403,
        "TUMAR_LABEL_LOWERING",
        user=w.alice,
        json={},
    )
    assert await label_of(api, w.alice, room) == {"label": "official-use", "kinds": ["official"]}


# ---- media ----------------------------------------------------------------------------------


def image(mxc: str) -> dict[str, Any]:
    return {"msgtype": "m.image", "body": "scan.png", "url": mxc, "info": {"mimetype": "image/png"}}


async def test_media_is_served_only_in_rooms_as_high_as_where_it_was_posted(
    settings: Settings,
) -> None:
    # Without the DLP rules in the chain the re-post below goes through; the download is
    # still refused.
    async with api_with(settings, classification_rules=["clearance", "audience"]) as api:
        w = await world(api)
        secret = await api.create_room(
            w.alice, initial_state=[labelled("official-use")], invite=[w.hana.user_id]
        )
        await api.join(w.hana, secret)
        lower = await api.create_room(w.alice, invite=[w.bob.user_id])
        await api.join(w.bob, lower)
        mxc = await upload(api, w.alice, png_bytes(), "image/png")
        await api.call(
            "PUT", f"/rooms/{q(secret)}/send/m.room.message/m1", user=w.alice, json=image(mxc)
        )
        await api.call(
            "PUT", f"/rooms/{q(lower)}/send/m.room.message/m2", user=w.alice, json=image(mxc)
        )
        assert (await download(api, w.hana, mxc)).status_code == 200
        assert (await download(api, w.alice, mxc)).status_code == 200  # the uploader
        resp = await download(api, w.bob, mxc)
        assert (resp.status_code, resp.json()["errcode"]) == (403, "M_FORBIDDEN")
        assert (await thumbnail(api, w.bob, mxc, 32, 32, "crop")).status_code == 403
        assert (await thumbnail(api, w.hana, mxc, 32, 32, "crop")).status_code == 200
        # Media first posted in the lower room stays visible there.
        plain = await upload(api, w.alice, png_bytes(), "image/png")
        await api.call(
            "PUT", f"/rooms/{q(lower)}/send/m.room.message/m3", user=w.alice, json=image(plain)
        )
        assert (await download(api, w.bob, plain)).status_code == 200


async def test_a_member_whose_clearance_drops_loses_the_rooms_media(api: Api) -> None:
    w = await world(api)
    carol = await staff(api, w.root, "carol", "9", "mof", "official-use")
    room = await api.create_room(
        w.alice, initial_state=[labelled("official-use")], invite=[carol.user_id]
    )
    await api.join(carol, room)
    mxc = await upload(api, w.alice, png_bytes(), "image/png")
    await api.call("PUT", f"/rooms/{q(room)}/send/m.room.message/m1", user=w.alice, json=image(mxc))
    assert (await download(api, carol, mxc)).status_code == 200
    people = await api.call("GET", f"{ADMIN}/people", user=w.root, params={"q": "9"})
    pid = next(p["person_id"] for p in people["people"] if p["personnel_number"] == "9")
    await api.call("PATCH", f"{ADMIN}/people/{pid}", user=w.root, json={"clearance": "internal"})
    assert (await download(api, carol, mxc)).status_code == 403


# ---- end-to-end encryption per label --------------------------------------------------------


async def test_e2ee_is_forbidden_in_official_use_rooms_and_allowed_in_internal(api: Api) -> None:
    w = await world(api)
    secret = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    await api.error(
        "PUT",
        f"/rooms/{q(secret)}/state/m.room.encryption",
        403,
        "TUMAR_E2EE_FORBIDDEN",
        user=w.alice,
        json=MEGOLM,
    )
    await api.error(
        "PUT",
        f"/rooms/{q(secret)}/send/m.room.encrypted/e1",
        403,
        "TUMAR_E2EE_FORBIDDEN",
        user=w.alice,
        json={**MEGOLM, "ciphertext": "x", "sender_key": "k", "session_id": "s", "device_id": "D"},
    )
    await api.error(
        "POST",
        "/createRoom",
        403,
        "TUMAR_E2EE_FORBIDDEN",
        user=w.alice,
        json={
            "initial_state": [
                {"type": "m.room.encryption", "content": MEGOLM},
                labelled("official-use"),
            ]
        },
    )
    internal = await api.create_room(w.alice)
    await api.call(
        "PUT", f"/rooms/{q(internal)}/state/m.room.encryption", user=w.alice, json=MEGOLM
    )
    # Encryption cannot be turned off, so an encrypted room cannot become official-use.
    body = await api.error(
        "PUT",
        f"/rooms/{q(internal)}/state/{LABEL}",
        403,
        "TUMAR_E2EE_FORBIDDEN",
        user=w.alice,
        json={"label": "official-use"},
    )
    assert "new room" in body["error"]
    assert await label_of(api, w.alice, internal) == {"label": "internal"}


async def test_e2ee_by_label_is_a_setting(settings: Settings) -> None:
    async with api_with(settings, e2ee_by_label={"internal": "required"}) as api:
        alice = await api.register("alice")
        room = await api.create_room(alice)
        state = await api.call("GET", f"/rooms/{q(room)}/state/m.room.encryption", user=alice)
        assert state == MEGOLM
        public = await api.create_room(alice, preset="public_chat")
        assert (await label_of(api, alice, public)) == {"label": "internal"}


async def test_unknown_org_in_a_raise_changes_nothing(api: Api) -> None:
    w = await world(api)
    await org(api, w.root, "mof-hr", parent="mof", kind="department")
    room = await api.create_room(w.alice)
    path = f"/rooms/{q(room)}/state/{LABEL}"
    await api.error(
        "PUT",
        path,
        400,
        "TUMAR_UNKNOWN_ORG",
        user=w.alice,
        json={"label": "internal", "orgs": ["mof-hr", "ghost"]},
    )
    await api.call("PUT", path, user=w.alice, json={"label": "internal", "orgs": ["mof"]})
    assert await label_of(api, w.alice, room) == {"label": "internal", "orgs": ["mof"]}
