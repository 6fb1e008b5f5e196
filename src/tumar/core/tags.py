"""Room tags (``/user/{userId}/rooms/{roomId}/tags``): the user's ``m.tag`` room account data,
changed tag by tag in one transaction and delivered by ``/sync`` like other account data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tumar.bus.base import Bus, Doorbell
from tumar.core.requester import Requester
from tumar.errors import MatrixError, bad_json, forbidden
from tumar.ids import RoomId, UserId
from tumar.store import events as event_store
from tumar.store import userdata as data_store
from tumar.store.db import Database

TAG = "m.tag"
MAX_TAG = 255
MAX_TAGS = 100
MAX_TAG_CONTENT = 4_096


def _own(requester: Requester, user_id: str, room_id: str) -> None:
    UserId.parse(user_id)
    RoomId.parse(room_id)
    if requester.user_id != user_id:
        raise forbidden("You can only read and change your own tags.")


class TagService:
    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    async def get(self, requester: Requester, user_id: str, room_id: str) -> dict[str, Any]:
        _own(requester, user_id, room_id)
        async with self._db.read() as conn:
            found = await data_store.get_account_data(conn, user_id, room_id, TAG)
        tags = (found or {}).get("tags")
        return {"tags": dict(tags) if isinstance(tags, Mapping) else {}}

    async def do_put(
        self, requester: Requester, user_id: str, room_id: str, tag: str, body: Mapping[str, Any]
    ) -> None:
        _own(requester, user_id, room_id)
        if not tag or len(tag) > MAX_TAG:
            raise MatrixError(400, "M_INVALID_PARAM", f"A tag is 1 to {MAX_TAG} characters.")
        order = body.get("order")
        if order is not None and (
            isinstance(order, bool) or not isinstance(order, (int, float)) or not 0 <= order <= 1
        ):
            raise bad_json("`order` must be a number from 0 to 1.")
        if len(orjson.dumps(body)) > MAX_TAG_CONTENT:
            raise MatrixError(
                413, "M_TOO_LARGE", f"A tag's data is limited to {MAX_TAG_CONTENT} bytes."
            )
        await self._change(user_id, room_id, tag, dict(body), must_be_member=True)

    async def do_delete(self, requester: Requester, user_id: str, room_id: str, tag: str) -> None:
        _own(requester, user_id, room_id)
        await self._change(user_id, room_id, tag, None, must_be_member=False)

    async def _change(
        self,
        user_id: str,
        room_id: str,
        tag: str,
        value: dict[str, Any] | None,
        *,
        must_be_member: bool,
    ) -> None:
        async with self._db.write() as conn:
            if must_be_member:
                state = await event_store.current_state_map(
                    conn, room_id, [("m.room.member", user_id)]
                )
                member = state.get(("m.room.member", user_id))
                if member is None or member.membership not in ("join", "invite"):
                    raise forbidden("You can only tag rooms you are in or invited to.")
            found = await data_store.get_account_data(conn, user_id, room_id, TAG)
            tags = dict((found or {}).get("tags") or {})
            if value is None:
                if tag not in tags:
                    return  # removing a tag that is not there changes nothing
                del tags[tag]
            else:
                if tag not in tags and len(tags) >= MAX_TAGS:
                    raise MatrixError(
                        400, "M_INVALID_PARAM", f"A room has at most {MAX_TAGS} tags."
                    )
                tags[tag] = value
            pos = await self._db.allocate_positions(conn)
            await data_store.put_account_data(conn, user_id, room_id, TAG, {"tags": tags}, pos)
        await self._bus.publish(Doorbell(position=pos, users=frozenset({user_id})))
