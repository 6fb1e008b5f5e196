"""Demo data for ``tumar serve --demo``: two officials and a room with a few messages.

Everything goes through the same services that requests use.
"""

from __future__ import annotations

from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.services import Services

DEMO_PASSWORD = "demo-password-2026"
DEMO_USERS = (("alice", "Alice Akhmetova"), ("bob", "Bolat Serikov"), ("dana", "Dana Omarova"))


async def seed_demo(svc: Services) -> list[str]:
    """Create the demo users and room unless they exist; return lines to print."""
    created = []
    for localpart, name in DEMO_USERS:
        user_id = svc.accounts.user_id_for(localpart)
        if await svc.accounts.get_user(user_id) is None:
            await svc.accounts.do_create_user(localpart, DEMO_PASSWORD, displayname=name)
            created.append(user_id)
    if created:
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
    return [f"Demo users: {users}", f"Password for each: {DEMO_PASSWORD}"]
