"""Push notifications: push rules, pushers, and the list of notified events."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import StrictBool

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.errors import MatrixError

router = APIRouter()

Kind = Literal["override", "underride", "sender", "room", "content"]


class EnabledBody(RequestBody):
    enabled: StrictBool


@router.get("/pushrules/")
async def all_rules(svc: Svc, requester: Auth) -> Any:
    return ok(await svc.push_rules.get_all(requester))


@router.get("/pushrules/global/")
async def global_rules(svc: Svc, requester: Auth) -> Any:
    return ok((await svc.push_rules.get_all(requester))["global"])


@router.get("/pushrules/global/{kind}/{rule_id}")
async def get_rule(svc: Svc, requester: Auth, kind: Kind, rule_id: str) -> Any:
    return ok(await svc.push_rules.get_rule(requester, kind, rule_id))


@router.put("/pushrules/global/{kind}/{rule_id}")
async def put_rule(
    svc: Svc,
    requester: Auth,
    kind: Kind,
    rule_id: str,
    body: Body,
    before: str | None = None,
    after: str | None = None,
) -> Any:
    await svc.push_rules.do_put_rule(requester, kind, rule_id, body, before=before, after=after)
    return ok()


@router.delete("/pushrules/global/{kind}/{rule_id}")
async def delete_rule(svc: Svc, requester: Auth, kind: Kind, rule_id: str) -> Any:
    await svc.push_rules.do_delete_rule(requester, kind, rule_id)
    return ok()


@router.get("/pushrules/global/{kind}/{rule_id}/enabled")
async def get_enabled(svc: Svc, requester: Auth, kind: Kind, rule_id: str) -> Any:
    rule = await svc.push_rules.get_rule(requester, kind, rule_id)
    return ok({"enabled": rule["enabled"]})


@router.put("/pushrules/global/{kind}/{rule_id}/enabled")
async def set_enabled(svc: Svc, requester: Auth, kind: Kind, rule_id: str, body: Body) -> Any:
    req = parse(EnabledBody, body)
    await svc.push_rules.do_set_enabled(requester, kind, rule_id, req.enabled)
    return ok()


@router.get("/pushrules/global/{kind}/{rule_id}/actions")
async def get_actions(svc: Svc, requester: Auth, kind: Kind, rule_id: str) -> Any:
    rule = await svc.push_rules.get_rule(requester, kind, rule_id)
    return ok({"actions": rule["actions"]})


@router.put("/pushrules/global/{kind}/{rule_id}/actions")
async def set_actions(svc: Svc, requester: Auth, kind: Kind, rule_id: str, body: Body) -> Any:
    if "actions" not in body:
        raise MatrixError(400, "M_MISSING_PARAM", "The body needs `actions`.")
    await svc.push_rules.do_set_actions(requester, kind, rule_id, body["actions"])
    return ok()


@router.get("/pushers")
async def pushers(svc: Svc, requester: Auth) -> Any:
    return ok({"pushers": await svc.pushers.list(requester)})


@router.post("/pushers/set")
async def set_pusher(svc: Svc, requester: Auth, body: Body) -> Any:
    await svc.pushers.do_set(requester, body)
    return ok()


@router.get("/notifications")
async def notifications(
    svc: Svc,
    requester: Auth,
    from_: str | None = Query(None, alias="from"),
    limit: int = Query(20, ge=1),
    only: str | None = None,
) -> Any:
    return ok(
        await svc.counter.notifications(
            requester, from_token=from_, limit=limit, only_highlight=only == "highlight"
        )
    )
