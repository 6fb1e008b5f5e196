"""Who finds whom in /user_directory/search and profiles, and what external partners may do."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.admin import ADMIN, person, two_ministries
from tests.support.harness import Api, User, q
from tumar.app import build_app
from tumar.config import Settings
from tumar.core.services import build_services

POSITION = "kz.tumar.position"
ORGANISATION = "kz.tumar.organisation"


async def staff(api: Api, root: User, number: str, org_code: str, name: str, **extra: Any) -> User:
    """A person in the directory with a linked account."""
    user = await api.register(name.lower().split()[0] + number)
    created = await person(
        api, root, number, org_code, name_lat=name, name_cyr=f"Кириллица {name}", **extra
    )
    await api.call(
        "PATCH", f"{ADMIN}/people/{created['person_id']}", user=root,
        json={"user_id": user.user_id},
    )  # fmt: skip
    return user


async def search(api: Api, user: User, term: str) -> list[str]:
    body = await api.call(
        "POST", "/user_directory/search", user=user, json={"search_term": term, "limit": 50}
    )
    return sorted(r["user_id"] for r in body["results"])


async def test_officials_find_their_ministry_only(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova", position="Analyst")
    bolat = await staff(api, root, "2", "mof", "Bolat Serikov")
    chingis = await staff(api, root, "3", "moh", "Chingis Akhmetov")

    assert await search(api, aida, "bolat") == [bolat.user_id]
    assert await search(api, bolat, "aida") == [aida.user_id]  # down the tree too
    assert await search(api, aida, "chingis") == []  # another ministry
    assert await search(api, chingis, "aida") == []

    hit = (
        await api.call(
            "POST", "/user_directory/search", user=bolat, json={"search_term": "nurlanova"}
        )
    )["results"][0]
    assert hit[POSITION] == "Analyst"
    assert hit[ORGANISATION]["code"] == "mof-it"
    assert hit[ORGANISATION]["name_ru"] == "mof-it ru"


async def test_search_matches_cyrillic_names_in_any_case(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    bolat = await staff(api, root, "2", "mof", "Bolat Serikov")
    assert await search(api, aida, "КИРИЛЛИЦА BOLAT") == [bolat.user_id]
    assert await search(api, aida, "кириллица bolat") == [bolat.user_id]


async def test_room_mates_are_found_across_ministries(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    chingis = await staff(api, root, "3", "moh", "Chingis Akhmetov")
    room = await api.create_room(aida, invite=[chingis.user_id])
    await api.join(chingis, room)
    assert await search(api, aida, "chingis") == [chingis.user_id]


async def test_departed_and_deactivated_people_are_not_found(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    await staff(api, root, "2", "mof", "Bolat Serikov")
    page = await api.call("GET", f"{ADMIN}/people", user=root, params={"q": "bolat"})
    await api.call(
        "PATCH", f"{ADMIN}/people/{page['people'][0]['person_id']}", user=root,
        json={"status": "departed"},
    )  # fmt: skip
    assert await search(api, aida, "bolat") == []


async def test_external_partners_see_only_room_mates(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    bolat = await staff(api, root, "2", "mof", "Bolat Serikov")
    ext = await staff(api, root, "9", "mof", "Erlan Partner", kind="external")

    assert await search(api, ext, "aida") == []
    assert await search(api, ext, "bolat") == []
    room = await api.create_room(aida, invite=[ext.user_id])
    await api.join(ext, room)
    assert await search(api, ext, "a") == sorted([aida.user_id, ext.user_id])
    # ...and their profile view of strangers carries no directory fields
    profile = await api.call("GET", f"/profile/{q(bolat.user_id)}", user=ext)
    assert POSITION not in profile and ORGANISATION not in profile
    # Officials do find external partners of their own ministry.
    assert await search(api, bolat, "erlan") == [ext.user_id]


async def test_external_partners_cannot_create_rooms_or_reach_strangers(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    bolat = await staff(api, root, "2", "mof", "Bolat Serikov")
    ext = await staff(api, root, "9", "mof", "Erlan Partner", kind="external")

    await api.error("POST", "/createRoom", 403, "TUMAR_EXTERNAL_RESTRICTED", user=ext, json={})
    await api.error(
        "POST", "/createRoom", 403, "TUMAR_EXTERNAL_RESTRICTED", user=ext,
        json={"is_direct": True, "invite": [bolat.user_id]},
    )  # fmt: skip
    room = await api.create_room(aida, invite=[ext.user_id])
    await api.join(ext, room)
    await api.error(
        "POST", f"/rooms/{q(room)}/invite", 403, "TUMAR_EXTERNAL_RESTRICTED", user=ext,
        json={"user_id": bolat.user_id},
    )  # fmt: skip
    members = await api.call("GET", f"/rooms/{q(room)}/joined_members", user=aida)
    assert set(members["joined"]) == {aida.user_id, ext.user_id}
    state = await api.call("GET", f"/rooms/{q(room)}/state/m.room.member/{q(bolat.user_id)}",
                           user=aida, expect=404)  # fmt: skip
    assert state["errcode"] == "M_NOT_FOUND"

    # Once they share a room with someone, they may bring them into another shared room.
    other = await api.create_room(bolat, invite=[ext.user_id])
    await api.join(ext, other)
    await api.call("POST", f"/rooms/{q(room)}/invite", user=ext, json={"user_id": bolat.user_id})


async def test_profiles_show_position_and_organisation_to_colleagues(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova", position="Analyst")
    bolat = await staff(api, root, "2", "mof", "Bolat Serikov")
    chingis = await staff(api, root, "3", "moh", "Chingis Akhmetov")

    seen = await api.call("GET", f"/profile/{q(aida.user_id)}", user=bolat)
    assert seen[POSITION] == "Analyst" and seen[ORGANISATION]["code"] == "mof-it"
    stranger = await api.call("GET", f"/profile/{q(aida.user_id)}", user=chingis)
    assert POSITION not in stranger
    anonymous = await api.call("GET", f"/profile/{q(aida.user_id)}")
    assert POSITION not in anonymous


@pytest.mark.parametrize("visibility", ["government", "shared_rooms"])
async def test_visibility_setting(settings: Settings, visibility: str) -> None:
    tuned = settings.model_copy(update={"directory_visibility": visibility})
    services = build_services(tuned)
    await services.start()
    try:
        async with Api.in_process(build_app(tuned, services), services) as api:
            root, _, _ = await two_ministries(api)
            aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
            await staff(api, root, "2", "mof", "Bolat Serikov")
            chingis = await staff(api, root, "3", "moh", "Chingis Akhmetov")
            found = await search(api, aida, "i")
            if visibility == "government":
                assert chingis.user_id in found and len(found) == 3
            else:
                assert found == [aida.user_id]
    finally:
        await services.close()


async def test_linking_an_account_twice_is_refused(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    other = await person(api, root, "2", "mof")
    await api.error(
        "PATCH", f"{ADMIN}/people/{other['person_id']}", 409, "TUMAR_ACCOUNT_LINKED", user=root,
        json={"user_id": aida.user_id},
    )  # fmt: skip
    await api.error(
        "PATCH", f"{ADMIN}/people/{other['person_id']}", 404, "M_NOT_FOUND", user=root,
        json={"user_id": "@nobody:tumar.test"},
    )  # fmt: skip
    unchanged = await api.call("GET", f"{ADMIN}/people/{other['person_id']}", user=root)
    assert unchanged["user_id"] is None
