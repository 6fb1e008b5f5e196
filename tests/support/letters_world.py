"""A world for correspondence tests, built through the real admin API.

gov > {mof > mof-it, moh}. People with accounts:

| who | org | role |
| --- | --- | --- |
| author | mof | drafts letters |
| appr1, appr2 | mof | approvers |
| signer | mof | signatory of mof |
| clerk | mof | registry clerk of mof |
| head2 | moh | head of moh |
| clerk2 | moh | registry clerk of moh |
| exec2, ctrl2 | moh | executor, controller |
| low2 | moh | clearance public (everyone else: official-use) |
| it1 | mof-it | |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.admin import ADMIN, grant, operator, org, person
from tests.support.harness import Api, User
from tumar.store import directory as directory_store

LETTERS = "/_tumar/letters/v1"


@dataclass
class World:
    root: User
    users: dict[str, User] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> User:
        return self.users[name]


async def add_person(api: Api, w: World, name: str, org_code: str, **extra: Any) -> User:
    w.ids[name] = (await person(api, w.root, f"n-{name}", org_code, **extra))["person_id"]
    w.users[name] = await api.register(name)
    assert api.services is not None
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, w.ids[name], user_id=w.users[name].user_id)
    return w.users[name]


async def build_world(api: Api) -> World:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "mof-it", parent="mof", kind="department")
    await org(api, root, "moh", parent="gov")
    w = World(root)
    for name, code in [
        ("author", "mof"), ("appr1", "mof"), ("appr2", "mof"), ("signer", "mof"),
        ("clerk", "mof"), ("head2", "moh"), ("clerk2", "moh"), ("exec2", "moh"),
        ("ctrl2", "moh"), ("it1", "mof-it"),
    ]:  # fmt: skip
        await add_person(api, w, name, code, clearance="official-use")
    await add_person(api, w, "low2", "moh", clearance="public")
    await grant(api, root, w["signer"].user_id, "signatory", "mof")
    await grant(api, root, w["clerk"].user_id, "registry_clerk", "mof")
    await grant(api, root, w["clerk2"].user_id, "registry_clerk", "moh")
    await api.call("PATCH", f"{ADMIN}/orgs/moh", user=root, json={"head_person_id": w.ids["head2"]})
    return w


def letter_body(w: World, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sender_org": "mof",
        "recipients": ["moh"],
        "subject": "Budget request for 2027",
        "body": "Dear colleagues,\n\nplease send the **figures** by Friday.",
        "approvers": [w["appr1"].user_id, w["appr2"].user_id],
        "approval": "ordered",
        "signatory": w["signer"].user_id,
    }
    body.update(extra)
    return body


async def draft(api: Api, w: World, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", f"{LETTERS}/letters", user=w["author"], json=letter_body(w, **extra), expect=201
    )
    return result


async def step(api: Api, who: User, letter_id: str, path: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", f"{LETTERS}/letters/{letter_id}/{path}", user=who, json=body
    )
    return result


async def signed_letter(api: Api, w: World, **extra: Any) -> dict[str, Any]:
    """A draft taken through approval and an Ed25519 signature."""
    letter = await draft(api, w, **extra)
    lid = letter["letter_id"]
    await step(api, w["author"], lid, "submit")
    for approver in letter_body(w, **extra)["approvers"]:
        user = next(u for u in w.users.values() if u.user_id == approver)
        await step(api, user, lid, "approve")
    keys = await api.call("GET", f"{LETTERS}/signing-keys", user=w["signer"])
    if not keys["keys"]:
        await api.call("POST", f"{LETTERS}/signing-keys", user=w["signer"], json={}, expect=201)
    return await step(api, w["signer"], lid, "sign")


async def registered_letter(api: Api, w: World, **extra: Any) -> dict[str, Any]:
    letter = await signed_letter(api, w, **extra)
    return await step(api, w["clerk"], letter["letter_id"], "register")
