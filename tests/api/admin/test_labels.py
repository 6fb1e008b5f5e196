"""Security officers and room labels through the admin API and the command line: the labels,
rooms by label, lowering a label with a reason (audited), and scope for every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.test_classification import LABEL, label_of, labelled, world
from tests.conftest import run_sync
from tests.support.admin import ADMIN
from tests.support.harness import Api, q
from tumar.cli import main
from tumar.config import load_settings
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.rooms import NewEvent
from tumar.core.services import build_services


def room_path(room: str) -> str:
    return f"{ADMIN}/labels/rooms/{q(room)}"


async def audit_of(api: Api, by: Any, room: str) -> list[dict[str, Any]]:
    body = await api.call("GET", f"{ADMIN}/audit", user=by, params={"target": room})
    entries: list[dict[str, Any]] = body["entries"]
    return entries


async def test_a_security_officer_lowers_a_label_with_a_reason(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    change = await api.call(
        "PUT",
        room_path(room),
        user=w.officer,
        json={"label": "internal", "reason": "declassified by order 12"},
    )
    assert change["changed"] is True and change["event_id"].startswith("$")
    assert change["room"] | {"updated_ts": 0} == {
        "room_id": room,
        "label": "internal",
        "kinds": [],
        "orgs": [],
        "labelled": True,
        "e2ee": "allowed",
        "creator": w.alice.user_id,
        "creator_org": "mof-it",
        "updated_ts": 0,
    }
    # Members see the change as room state, naming the officer; the room admin carried it.
    assert await label_of(api, w.alice, room) == {
        "label": "internal",
        "kz.tumar.set_by": w.officer.user_id,
    }
    event = await api.call("GET", f"/rooms/{q(room)}/event/{q(change['event_id'])}", user=w.alice)
    assert event["sender"] == w.alice.user_id
    [entry] = [e for e in await audit_of(api, w.root, room) if e["action"] == "room.label.set"]
    assert entry["actor"] == w.officer.user_id
    assert entry["before"] == {"label": "official-use"}
    assert entry["after"]["label"] == "internal"
    assert entry["after"]["reason"] == "declassified by order 12"
    # Setting the same again changes nothing and writes no event.
    again = await api.call(
        "PUT", room_path(room), user=w.officer, json={"label": "internal", "reason": "again"}
    )
    assert again["changed"] is False and again["event_id"] is None
    # Bob (internal) may now be invited.
    resp = await api.raw(
        "POST", f"/rooms/{q(room)}/invite", user=w.alice, json={"user_id": w.bob.user_id}
    )
    assert resp.status_code == 200


async def test_label_routes_are_scoped_to_the_creators_organisation(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    body = {"label": "internal", "reason": "not mine to lower"}
    for user in (w.moh_officer, w.moh_admin, w.mof_admin):
        await api.error("PUT", room_path(room), 403, "TUMAR_OUT_OF_SCOPE", user=user, json=body)
        await api.error("GET", room_path(room), 403, "TUMAR_OUT_OF_SCOPE", user=user)
    await api.error("PUT", room_path(room), 403, "M_FORBIDDEN", user=w.bob, json=body)
    # A room created by someone outside the directory needs a global officer.
    outside = await api.create_room(w.nobody)
    await api.error(
        "PUT",
        room_path(outside),
        403,
        "TUMAR_OUT_OF_SCOPE",
        user=w.officer,
        json={"label": "official-use", "reason": "x"},
    )
    assert await label_of(api, w.alice, room) == {"label": "official-use"}
    assert [e for e in await audit_of(api, w.root, room) if e["action"] == "room.label.set"] == []
    # The operator (global) may.
    await api.call(
        "PUT",
        room_path(outside),
        user=w.root,
        json={"label": "public", "reason": "a public notice board"},
    )
    assert (await label_of(api, w.nobody, outside))["label"] == "public"


async def test_bad_label_requests_change_nothing(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    path = room_path(room)
    await api.error("PUT", path, 400, "M_BAD_JSON", user=w.officer, json={"label": "internal"})
    await api.error(
        "PUT", path, 400, "M_BAD_JSON", user=w.officer, json={"label": "internal", "reason": ""}
    )
    await api.error(
        "PUT",
        path,
        400,
        "M_BAD_JSON",
        user=w.officer,
        json={"label": "internal", "reason": "x", "extra": 1},
    )
    await api.error(
        "PUT",
        path,
        400,
        "TUMAR_UNKNOWN_LABEL",
        user=w.officer,
        json={"label": "secret", "reason": "x"},
    )
    await api.error(
        "PUT",
        path,
        400,
        "TUMAR_UNKNOWN_ORG",
        user=w.officer,
        json={"label": "internal", "orgs": ["ghost"], "reason": "x"},
    )
    await api.error(
        "PUT",
        room_path("!missing:tumar.test"),
        404,
        "M_NOT_FOUND",
        user=w.officer,
        json={"label": "internal", "reason": "x"},
    )
    # A lowering that would still exclude a member (narrower audience) is refused as well.
    await api.error(
        "PUT",
        path,
        403,
        "TUMAR_LABEL_EXCLUDES_MEMBERS",
        user=w.officer,
        json={"label": "internal", "orgs": ["moh"], "reason": "x"},
    )
    assert await label_of(api, w.alice, room) == {"label": "official-use"}
    assert [e for e in await audit_of(api, w.root, room) if e["action"] == "room.label.set"] == []


async def test_labels_and_rooms_by_label(api: Api) -> None:
    w = await world(api)
    secret = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    internal = await api.create_room(w.alice)
    moh_room = await api.create_room(w.hana, initial_state=[labelled("official-use")])
    settings = await api.call("GET", f"{ADMIN}/labels", user=w.officer)
    assert settings["labels"] == ["public", "internal", "official-use"]
    assert settings["e2ee"] == {
        "public": "allowed",
        "internal": "allowed",
        "official-use": "forbidden",
    }
    assert settings["default_room"] == "internal"
    listed = await api.call("GET", f"{ADMIN}/labels/rooms", user=w.officer)
    assert sorted(r["room_id"] for r in listed["rooms"]) == sorted([secret, internal])
    high = await api.call(
        "GET", f"{ADMIN}/labels/rooms", user=w.root, params={"at_least": "official-use"}
    )
    assert sorted(r["room_id"] for r in high["rooms"]) == sorted([secret, moh_room])
    only = await api.call(
        "GET", f"{ADMIN}/labels/rooms", user=w.officer, params={"label": "internal"}
    )
    assert [r["room_id"] for r in only["rooms"]] == [internal]
    shown = await api.call("GET", room_path(secret), user=w.officer)
    assert (shown["label"], shown["e2ee"], shown["creator_org"]) == (
        "official-use",
        "forbidden",
        "mof-it",
    )
    await api.error(
        "GET",
        f"{ADMIN}/labels/rooms",
        400,
        "TUMAR_UNKNOWN_LABEL",
        user=w.officer,
        params={"label": "secret"},
    )
    await api.error("GET", f"{ADMIN}/labels", 403, "TUMAR_OUT_OF_SCOPE", user=w.mof_admin)
    doc = await api.call("GET", f"{ADMIN}/openapi.json")
    assert f"{ADMIN}/labels/rooms/{{room_id}}" in doc["paths"]


async def test_the_upgrade_of_a_room_keeps_its_label(api: Api) -> None:
    w = await world(api)
    room = await api.create_room(w.alice, initial_state=[labelled("official-use")])
    await api.call(
        "PUT",
        room_path(room),
        user=w.officer,
        json={"label": "official-use", "kinds": ["official"], "reason": "officials"},
    )
    body = await api.call(
        "POST", f"/rooms/{q(room)}/upgrade", user=w.alice, json={"new_version": "11"}
    )
    new = body["replacement_room"]
    assert (await label_of(api, w.alice, new))["label"] == "official-use"
    assert (await label_of(api, w.alice, new))["kinds"] == ["official"]


# ---- the command line -----------------------------------------------------------------------


async def _seed(data_dir: Path) -> str:
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        await svc.db.migrate()
        await svc.start()
        user = await svc.accounts.do_create_user("alice", None)
        plan = RoomPlan(
            creator=user,
            preset="private_chat",
            initial_state=[NewEvent(LABEL, {"label": "internal"}, "")],
        )
        return await svc.creator.do_create_room(Requester(user, "D"), plan, "private")
    finally:
        await svc.close()


def test_cli_lists_shows_and_sets_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = run_sync(_seed(tmp_path))

    def run(*args: str) -> int:
        return main([*args, "--data-dir", str(tmp_path)])

    assert run("labels", "list", "--at-least", "internal") == 0
    out = capsys.readouterr().out
    assert "label official-use\te2ee=forbidden" in out
    assert f"{room}\tinternal\te2ee=allowed" in out
    assert run("labels", "list", "--label", "official-use") == 0
    assert room not in capsys.readouterr().out
    assert run("labels", "set", room, "public", "--reason", "published") == 0
    assert f"{room}\tpublic" in capsys.readouterr().out
    assert run("labels", "show", room) == 0
    assert "\tpublic\te2ee=allowed" in capsys.readouterr().out
    assert run("labels", "set", room, "nonsense", "--reason", "x") == 1
    assert "no label" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("labels", "set", room, "internal")  # --reason is mandatory
