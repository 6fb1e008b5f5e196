"""Demo data for ``tumar serve --demo``: a small organisation tree, three officials with
accounts (alice administers the ministry), and a room with a message.

Everything goes through the same services that requests use.
"""

from __future__ import annotations

from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.services import Services
from tumar.policy.roles import Role

DEMO_PASSWORD = "demo-password-2026"
DEMO_USERS = (("alice", "Alice Akhmetova"), ("bob", "Bolat Serikov"), ("dana", "Dana Omarova"))
DEMO_ORGS = (
    NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government"),
    NewOrg(
        "mdai", "gov", "ministry", "Цифрлық даму министрлігі",
        "Министерство цифрового развития", "Ministry of Digital Development",
    ),
    NewOrg(
        "mdai-ds", "mdai", "department", "Цифрлық қызметтер департаменті",
        "Департамент цифровых услуг", "Department of Digital Services",
    ),
)  # fmt: skip
DEMO_PEOPLE = (
    ("alice", NewPerson("D-001", "mdai-ds", "Ахметова Алиса", "Alice Akhmetova", "Director")),
    ("bob", NewPerson("D-002", "mdai-ds", "Серіков Болат", "Bolat Serikov", "Chief expert")),
    ("dana", NewPerson("D-003", "mdai-ds", "Омарова Дана", "Dana Omarova", "Analyst")),
)


async def seed_directory(svc: Services) -> None:
    """The demo organisation tree and people, linked to the demo accounts."""
    actor = cli_actor("demo")
    for org in DEMO_ORGS:
        await svc.directory.do_create_org(actor, org)
    for localpart, new in DEMO_PEOPLE:
        person = await svc.directory.do_create_person(actor, new)
        user_id = svc.accounts.user_id_for(localpart)
        await svc.directory.do_update_person(actor, person.person_id, {"user_id": user_id})
    await svc.directory.do_grant(actor, svc.accounts.user_id_for("alice"), Role.ORG_ADMIN, "mdai")


async def seed_demo(svc: Services) -> list[str]:
    """Create the demo users and room unless they exist; return lines to print."""
    created = []
    for localpart, name in DEMO_USERS:
        user_id = svc.accounts.user_id_for(localpart)
        if await svc.accounts.get_user(user_id) is None:
            await svc.accounts.do_create_user(localpart, DEMO_PASSWORD, displayname=name)
            created.append(user_id)
    if created:
        await seed_directory(svc)
        alice = Requester(svc.accounts.user_id_for("alice"), "DEMO")
        others = [svc.accounts.user_id_for(u) for u, _ in DEMO_USERS[1:]]
        plan = RoomPlan(
            creator=alice.user_id,
            preset="private_chat",
            name="Department of Digital Services",
            topic="Official chat of the department (demo)",
            invite=tuple(others),
        )
        room_id = await svc.creator.do_create_room(alice, plan, "private")
        for user in others:
            await svc.membership.do_membership(Requester(user, "DEMO"), room_id, "join")
        await svc.rooms.do_send(
            alice, room_id, "m.room.message", {"msgtype": "m.text", "body": "Welcome to tumar!"}
        )
    users = ", ".join(svc.accounts.user_id_for(u) for u, _ in DEMO_USERS)
    return [
        f"Demo users: {users}",
        f"Password for each: {DEMO_PASSWORD}",
        "alice administers the demo ministry (admin API under /_tumar/admin/v1)",
    ]
