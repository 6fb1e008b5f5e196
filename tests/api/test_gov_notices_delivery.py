"""Delivery of government notifications (issue 7): pushed in bulk to long-polling recipients,
urgent ones highlighted, attachments as their own events, the pending list paged. Same world
and fixtures as ``test_gov_notices.py`` (both backends)."""

# ruff: noqa: F811  (the fixtures imported from test_gov_notices are parameters here)
from __future__ import annotations

import asyncio
from typing import Any

from tests.api.test_gov_notices import (  # noqa: F401  (fixtures)
    KEY,
    NOTICES,
    World,
    clock,
    count,
    notice_events,
    send,
    services,
    world,
)
from tests.support.harness import Api, q
from tests.support.media import download, upload
from tumar.store.schema import gov_notice_recipients


def unread(sync: dict[str, Any]) -> dict[str, int]:
    """``unread_notifications`` of the notice room (the room with the system's messages)."""
    for room in sync["rooms"]["join"].values():
        if any(KEY in ev.get("content", {}) for ev in room["timeline"]["events"]):
            counts: dict[str, int] = room["unread_notifications"]
            return counts
    raise AssertionError("no notice room in the answer")


async def test_urgent_notice_is_a_highlight_and_information_does_not_notify(
    api: Api, world: World
) -> None:
    w = world
    await send(api, w.comms, priority="information", ack_required=False, deadline=None)
    info = await api.sync(w.users["a1"])
    assert unread(info) == {"notification_count": 0, "highlight_count": 0}
    await send(api, w.comms, priority="urgent", title="Evacuate now")
    urgent = await api.sync(w.users["a1"], since=info["next_batch"])
    [ev] = notice_events(urgent)
    assert ev["content"][KEY]["priority"] == "urgent"
    assert unread(urgent) == {"notification_count": 1, "highlight_count": 1}
    # An important one neither.
    await send(api, w.comms, priority="important", title="Read this")
    later = await api.sync(w.users["a1"], since=urgent["next_batch"])
    assert unread(later) == {"notification_count": 1, "highlight_count": 1}


async def test_a_recipient_cannot_fake_an_urgent_highlight(api: Api, world: World) -> None:
    """The rule needs the room's notification power level: a plain member's message with the
    urgent field does not highlight (here in an ordinary room where a2 has power 0)."""
    w = world
    room = await api.create_room(w.users["a1"], preset="public_chat")
    await api.join(w.users["a2"], room)
    first = await api.sync(w.users["a1"])
    content = {"msgtype": "m.text", "body": "x", KEY: {"priority": "urgent"}}
    await api.call(
        "PUT", f"/rooms/{q(room)}/send/m.room.message/fake1", user=w.users["a2"], json=content
    )
    later = await api.sync(w.users["a1"], since=first["next_batch"])
    counts = later["rooms"]["join"][room]["unread_notifications"]
    assert counts["highlight_count"] == 0


async def test_connected_recipients_get_it_pushed_in_bulk(api: Api, world: World) -> None:
    """Every parked long-poll is woken with the notice; per-recipient rows exist only for
    those it was delivered to."""
    w = world
    names = ["a1", "a2", "b1", "b2"]
    firsts = {n: await api.sync(w.users[n]) for n in names}
    polls = {
        n: asyncio.ensure_future(api.sync(w.users[n], since=firsts[n]["next_batch"], timeout=5000))
        for n in names[:3]
    }
    await asyncio.sleep(0.3)
    assert not any(p.done() for p in polls.values())
    sent = await send(api, w.comms)
    for n, poll in polls.items():
        [ev] = notice_events(await asyncio.wait_for(poll, 5))
        assert ev["content"][KEY]["id"] == sent["notice_id"], n
    assert await count(api, gov_notice_recipients) == 3  # b2 was not connected
    [ev] = notice_events(await api.sync(w.users["b2"], since=firsts["b2"]["next_batch"]))
    assert ev["content"][KEY]["id"] == sent["notice_id"]
    assert await count(api, gov_notice_recipients) == 4
    # Nothing twice, to anyone.
    for n in names:
        again = await api.sync(w.users[n], since=firsts[n]["next_batch"])
        assert len([e for e in notice_events(again) if "title" in e["content"][KEY]]) == 1


async def test_attachments_are_file_events_referring_to_the_notice(api: Api, world: World) -> None:
    w = world
    pdf = await upload(api, w.comms, b"%PDF-1.4 plan", "application/pdf", filename="plan.pdf")
    png = await upload(api, w.comms, b"\x89PNG\r\n\x1a\n" + b"0" * 32, "image/png")
    attachments = [
        {"url": pdf, "name": "plan.pdf", "mimetype": "application/pdf", "size": 13},
        {"url": png, "name": "map.png", "mimetype": "image/png"},
    ]
    sent = await send(api, w.comms, attachments=attachments)
    events = notice_events(await api.sync(w.users["b1"]))
    notice, pdf_ev, png_ev = events
    assert notice["content"][KEY]["id"] == sent["notice_id"]
    assert "plan.pdf" in notice["content"]["body"]
    assert pdf_ev["content"]["msgtype"] == "m.file"
    assert pdf_ev["content"]["url"] == pdf
    assert pdf_ev["content"]["info"] == {"mimetype": "application/pdf", "size": 13}
    assert png_ev["content"]["msgtype"] == "m.image"
    for ev in (pdf_ev, png_ev):
        assert ev["content"]["m.relates_to"] == {
            "rel_type": "m.reference",
            "event_id": notice["event_id"],
        }
        assert ev["content"][KEY] == {"id": sent["notice_id"], "attachment": True}
    # The recipient may download them (the notice room shows them); an outsider may not.
    assert (await download(api, w.users["b1"], pdf)).status_code == 200
    assert (await download(api, w.users["c1"], pdf)).status_code in (403, 404)


async def test_attachment_the_author_may_not_see_is_refused(api: Api, world: World) -> None:
    w = world
    private = await upload(api, w.users["c1"], b"secret", "text/plain")
    body = {"url": private, "name": "secret.txt"}
    await api.error(
        "POST", NOTICES, 400, "M_INVALID_PARAM", user=w.comms,
        json={"title": "t", "body": "b", "audience": {"orgs": ["mof"]}, "send": True,
              "attachments": [body]},
    )  # fmt: skip
    assert notice_events(await api.sync(w.users["a1"])) == []


async def test_pending_list_pages_in_audience_order(api: Api, world: World) -> None:
    w = world
    sent = await send(api, w.comms)
    nid = sent["notice_id"]
    await api.sync(w.users["a2"])
    await api.call("POST", f"/_tumar/notices/v1/notices/{nid}/ack", user=w.users["a2"])
    url = f"{NOTICES}/{nid}/recipients"
    full = await api.call("GET", url, user=w.comms, params={"pending": "true", "limit": 10})
    pages = [
        await api.call(
            "GET", url, user=w.comms, params={"pending": "true", "limit": 1, "offset": i}
        )
        for i in range(3)
    ]
    assert full["total"] == 3  # a1 b1 b2 (a2 acknowledged)
    names = [r["user_id"] for r in full["people"]]
    assert names == [p["people"][0]["user_id"] for p in pages]
    assert names == [w.users[n].user_id for n in ("a1", "b1", "b2")]  # mof, then mof-it
    everyone = await api.call("GET", url, user=w.comms)
    by_user = {r["user_id"]: r for r in everyone["people"]}
    assert everyone["total"] == 4
    assert by_user[w.users["a2"].user_id]["acknowledged_via"] == "api"
    assert by_user[w.users["a2"].user_id]["read"] is True
    assert by_user[w.users["a2"].user_id]["delivered_at"] is not None
    assert by_user[w.users["a1"].user_id]["delivered_at"] is None
    assert by_user[w.users["a1"].user_id]["read"] is False
