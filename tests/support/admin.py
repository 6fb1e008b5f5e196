"""Helpers for admin-API tests: an operator, organisations, people and role grants built
through the real endpoints."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Api, User

ADMIN = "/_tumar/admin/v1"


async def operator(api: Api, localpart: str = "root") -> User:
    """A server admin (a global operator), created the way `tumar user create --admin` does."""
    assert api.services is not None
    await api.services.accounts.do_create_user(localpart, "correct horse battery", admin=True)
    return await api.login(localpart)


async def org(
    api: Api, by: User, code: str, parent: str | None = None, kind: str = "ministry", **extra: Any
) -> dict[str, Any]:
    body = {
        "code": code,
        "parent_code": parent,
        "kind": kind,
        "name_kk": f"{code} kk",
        "name_ru": f"{code} ru",
        "name_en": f"{code} en",
        **extra,
    }
    result: dict[str, Any] = await api.call("POST", f"{ADMIN}/orgs", user=by, json=body, expect=201)
    return result


async def person(api: Api, by: User, number: str, org_code: str, **extra: Any) -> dict[str, Any]:
    body = {
        "personnel_number": number,
        "org_code": org_code,
        "name_cyr": f"Иванов {number}",
        "name_lat": f"Ivanov {number}",
        **extra,
    }
    result: dict[str, Any] = await api.call(
        "POST", f"{ADMIN}/people", user=by, json=body, expect=201
    )
    return result


async def grant(api: Api, by: User, user_id: str, role: str, org_code: str = "") -> None:
    await api.call(
        "POST",
        f"{ADMIN}/roles",
        user=by,
        json={"user_id": user_id, "role": role, "org_code": org_code},
        expect=201,
    )


async def two_ministries(api: Api) -> tuple[User, User, User]:
    """The tree gov > {mof > mof-it, moh}, an operator, and one org admin per ministry."""
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "mof-it", parent="mof", kind="department")
    await org(api, root, "moh", parent="gov")
    mof_admin = await api.register("mofadmin")
    moh_admin = await api.register("mohadmin")
    await grant(api, root, mof_admin.user_id, "org_admin", "mof")
    await grant(api, root, moh_admin.user_id, "org_admin", "moh")
    return root, mof_admin, moh_admin
