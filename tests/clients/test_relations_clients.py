"""Threads, edits and reactions between real clients, both ways, and search through one.

matrix-nio starts a thread, edits its root and reacts to it; matrix-js-sdk with thread support
(``tests/js/relations.mjs``) must model all three (the edit applied, the thread with nio's reply
as its last reply, the reaction counted), then replies in the thread, edits its own message,
reacts, lists the room's threads and finds nio's message with server-side search; matrix-nio
then receives js-sdk's events and reads the server's bundled aggregations.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from nio import (
    AsyncClient,
    LoginResponse,
    ReactionEvent,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from tests.support.harness import PASSWORD, Api, LiveServer
from tests.support.js import require_node, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.node]

NODE_TIMEOUT_S = 90
WAIT_S = 30.0


async def _send(client: AsyncClient, room: str, event_type: str, content: dict[str, Any]) -> str:
    resp = await client.room_send(room, event_type, content)
    assert isinstance(resp, RoomSendResponse), resp
    return str(resp.event_id)


async def test_threads_edits_reactions_between_nio_and_js_sdk(live_server: LiveServer) -> None:
    require_node()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        api = Api(http)
        await api.register("alice")
        bob = await api.register("bob")

        nio = AsyncClient(live_server.url, "@alice:tumar.test")
        try:
            assert isinstance(await nio.login(PASSWORD), LoginResponse)
            created = await nio.room_create(name="Budget", invite=[bob.user_id])
            assert isinstance(created, RoomCreateResponse), created
            room = created.room_id
            await api.join(bob, room)

            root = await _send(
                nio, room, "m.room.message", {"msgtype": "m.text", "body": "Quarterly budget draft"}
            )
            reply = await _send(nio, room, "m.room.message", {
                "msgtype": "m.text",
                "body": "first comment",
                "m.relates_to": {"rel_type": "m.thread", "event_id": root},
            })  # fmt: skip
            edit = await _send(nio, room, "m.room.message", {
                "msgtype": "m.text",
                "body": "* Quarterly budget, final",
                "m.new_content": {"msgtype": "m.text", "body": "Quarterly budget, final"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": root},
            })  # fmt: skip
            await _send(nio, room, "m.reaction", {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}
            })  # fmt: skip

            result = await run_scenario(
                "relations",
                {
                    "TUMAR_HS_URL": live_server.url,
                    "TUMAR_USER_ID": bob.user_id,
                    "TUMAR_USER_TOKEN": bob.token,
                    "TUMAR_USER_DEVICE": bob.device_id,
                    "TUMAR_ROOM_ID": room,
                    "TUMAR_ROOT_ID": root,
                    "TUMAR_THREAD_REPLY_ID": reply,
                    "TUMAR_EDIT_ID": edit,
                    "TUMAR_SEARCH_TERM": "budget",
                },
                timeout_s=NODE_TIMEOUT_S,
            )

            # js-sdk modelled nio's thread, edit and reaction.
            seen = result["seen"]
            assert seen["server_thread_support"] == {"threads": 2, "list": 2, "fwdPagination": 2}
            assert seen["root_body"] == "Quarterly budget, final"
            assert seen["root_replaced_by"] == edit
            assert seen["thread_length"] == 1 and seen["thread_last_reply"] == reply
            assert seen["thread_reply_in_main_timeline"] is False
            assert seen["reactions"] == [["👍", 1]]
            assert result["js_message_body"] == "final from js"
            assert result["thread_length_after"] == 2
            assert result["threads"] == [root]
            found = {hit["event_id"]: hit for hit in result["search"]}
            assert root in found and found[root]["room_id"] == room
            # The search result carries its edit bundled, and js-sdk shows the edited text.
            assert found[root]["body"] == "Quarterly budget, final"
            assert result["failed_requests"] == []  # js-sdk found every endpoint it used

            # matrix-nio receives what js-sdk sent.
            sent = result["sent"]
            got: dict[str, Any] = {}

            async def collect() -> None:
                while not {sent["thread_reply"], sent["edit"], sent["reaction"]} <= set(got):
                    resp = await nio.sync(timeout=5000)
                    assert isinstance(resp, SyncResponse), resp
                    timeline = resp.rooms.join.get(room)
                    for ev in timeline.timeline.events if timeline else []:
                        got[ev.event_id] = ev

            await asyncio.wait_for(collect(), WAIT_S)
            reaction = got[sent["reaction"]]
            assert isinstance(reaction, ReactionEvent)
            assert (reaction.reacts_to, reaction.key) == (root, "🎉")
            thread_reply = got[sent["thread_reply"]]
            assert isinstance(thread_reply, RoomMessageText)
            relates = thread_reply.source["content"]["m.relates_to"]
            assert (relates["rel_type"], relates["event_id"]) == ("m.thread", root)
            js_edit = got[sent["edit"]]
            assert isinstance(js_edit, RoomMessageText)
            assert js_edit.source["content"]["m.new_content"]["body"] == "final from js"

            # The server's bundled aggregations, as nio fetches them.
            fetched = await nio.room_get_event(room, root)
            assert isinstance(fetched, RoomGetEventResponse), fetched
            bundled = fetched.event.source["unsigned"]["m.relations"]
            assert bundled["m.thread"]["count"] == 2
            assert bundled["m.thread"]["latest_event"]["event_id"] == sent["thread_reply"]
            assert bundled["m.thread"]["current_user_participated"] is True
            assert bundled["m.replace"]["event_id"] == edit
            message = await nio.room_get_event(room, sent["message"])
            assert isinstance(message, RoomGetEventResponse), message
            replace = message.event.source["unsigned"]["m.relations"]["m.replace"]
            assert replace["event_id"] == sent["edit"]
        finally:
            await nio.close()
