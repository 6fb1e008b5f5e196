"""What officials see of each other: the user directory search, the directory fields of
profiles, and the limits on external partners (no rooms of their own, no reaching strangers).
The visibility rules are the pure functions of ``policy.directory``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.core.requester import Requester
from tumar.errors import MatrixError
from tumar.policy import directory as rules
from tumar.policy.decision import Decision
from tumar.store import directory as store
from tumar.store.db import Database
from tumar.store.directory import DirectoryHit

NS = "kz.tumar"  # namespace of tumar's own fields in Matrix JSON
POSITION = f"{NS}.position"
ORGANISATION = f"{NS}.organisation"


def restricted(decision: Decision) -> None:
    if not decision:
        raise MatrixError(403, "TUMAR_EXTERNAL_RESTRICTED", decision.reason)


def directory_fields(hit: DirectoryHit) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if hit.position:
        out[POSITION] = hit.position
    if hit.org_code:
        out[ORGANISATION] = {
            "code": hit.org_code,
            "name_kk": hit.org_name_kk,
            "name_ru": hit.org_name_ru,
            "name_en": hit.org_name_en,
        }
    return out


class UserDirectory:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._visibility = rules.DirectoryVisibility(settings.directory_visibility)

    async def _browse_root(self, conn: AsyncConnection, user_id: str) -> str | None:
        person = await store.person_by_user(conn, user_id)
        if person is None or person.status != "active":
            return None
        path = await store.person_org_path(conn, person.person_id)
        return rules.browse_root(person.kind, path, self._visibility)

    async def search(
        self, requester: Requester, term: str, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        async with self._db.read() as conn:
            root = await self._browse_root(conn, requester.user_id)
            hits = await store.search_directory(conn, requester.user_id, term, limit + 1, root)
        results = []
        for hit in hits[:limit]:
            entry: dict[str, Any] = {"user_id": hit.user_id}
            if hit.displayname is not None:
                entry["display_name"] = hit.displayname
            if hit.avatar_url is not None:
                entry["avatar_url"] = hit.avatar_url
            results.append(entry | directory_fields(hit))
        return results, len(hits) > limit

    async def profile_fields(self, viewer: str, target: str) -> dict[str, Any]:
        """Position and organisation of ``target``, if ``viewer`` may find them."""
        async with self._db.read() as conn:
            hit = await store.directory_entry(conn, target)
            if hit is None or hit.org_code is None:
                return {}
            if viewer != target and not await store.share_a_room(conn, viewer, target):
                root = await self._browse_root(conn, viewer)
                if (
                    root is None
                    or hit.status != "active"
                    or hit.org_path is None
                    or not hit.org_path.startswith(root)
                ):
                    return {}
        return directory_fields(hit)

    async def check_may_create_room(self, conn: AsyncConnection, user_id: str) -> None:
        person = await store.person_by_user(conn, user_id)
        restricted(rules.may_create_room(person.kind if person else None))

    async def check_may_invite(self, conn: AsyncConnection, inviter: str, invitee: str) -> None:
        person = await store.person_by_user(conn, inviter)
        if person is None or person.kind != "external":
            return
        shared = await store.share_a_room(conn, inviter, invitee)
        restricted(rules.may_invite(person.kind, shared))
