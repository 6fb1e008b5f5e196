"""Push rules (``/pushrules``) and pushers (``/pushers``): the only writer of both.

A change to a user's push rules also writes the whole rule set as their ``m.push_rules``
account data in the same transaction, so ``/sync`` delivers it like any account data.
Pushers are stored and validated; delivering to push gateways comes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.core.requester import Requester
from tumar.errors import MatrixError, bad_json, not_found
from tumar.policy.push_eval import CompiledRules, compile_rules
from tumar.policy.push_rule_sets import (
    MAX_RULES_PER_USER,
    RuleError,
    StoredRule,
    client_view,
    find,
    new_rule,
    order_after_put,
    ruleset,
    validate_actions,
    validate_rule_id,
)
from tumar.store import push as push_store
from tumar.store import userdata as data_store
from tumar.store.db import Database
from tumar.store.push import Pusher

PUSH_RULES = "m.push_rules"
RULES_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class UserRules:
    rules: dict[str, list[dict[str, Any]]]
    compiled: CompiledRules
    key: int  # equal for equal rule sets (a rebuilt cache entry keeps derived caches valid)


def _not_found(kind: str, rule_id: str) -> MatrixError:
    return not_found(f"There is no {kind} push rule {rule_id!r}.")


class PushRuleService:
    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus
        # user -> their rules, for the unread counts of every sync. Dropped on every change
        # made here, and by /sync when ``m.push_rules`` appears in its window (a change made
        # on another node), so a stale entry lives at most until the user's next sync.
        self._cache: dict[str, UserRules] = {}

    async def rules_for(
        self, conn: AsyncConnection, user_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        """The user's rules in evaluation order (room and sender rules with their implied
        conditions). Callers must not change the result."""
        return (await self.user_rules(conn, user_id)).rules

    async def user_rules(self, conn: AsyncConnection, user_id: str) -> UserRules:
        """The user's rules, compiled for evaluation, with a key that changes with them."""
        cached = self._cache.get(user_id)
        if cached is None:
            rules = ruleset(user_id, await push_store.list_rules(conn, user_id))
            cached = UserRules(rules, compile_rules(rules), hash(orjson.dumps(rules)))
            if len(self._cache) >= RULES_CACHE_SIZE:
                self._cache.clear()
            self._cache[user_id] = cached
        return cached

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id, None)

    def account_data(self, rules: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {"global": client_view(rules)}

    async def get_all(self, requester: Requester) -> dict[str, Any]:
        async with self._db.read() as conn:
            return self.account_data(await self.rules_for(conn, requester.user_id))

    async def get_rule(self, requester: Requester, kind: str, rule_id: str) -> dict[str, Any]:
        _check_id(kind, rule_id)
        async with self._db.read() as conn:
            rules = client_view(await self.rules_for(conn, requester.user_id))
        found = find(rules, kind, rule_id)
        if found is None:
            raise _not_found(kind, rule_id)
        return found

    async def do_put_rule(
        self,
        requester: Requester,
        kind: str,
        rule_id: str,
        body: Mapping[str, Any],
        *,
        before: str | None,
        after: str | None,
    ) -> None:
        _check_id(kind, rule_id)
        try:
            rule = new_rule(kind, rule_id, body)
        except RuleError as exc:
            raise bad_json(str(exc)) from None
        user = requester.user_id
        async with self._db.write() as conn:
            await self._db.lock_user(conn, user)
            stored = await push_store.list_rules(conn, user)
            own = [r for r in stored if not r.is_default]
            if len(own) >= MAX_RULES_PER_USER and not any(
                r.kind == kind and r.rule_id == rule_id for r in own
            ):
                raise MatrixError(
                    400,
                    "TUMAR_TOO_MANY_PUSH_RULES",
                    f"A user can have at most {MAX_RULES_PER_USER} push rules of their own.",
                )
            current = [r.rule_id for r in own if r.kind == kind]
            try:
                order = order_after_put(current, rule_id, before, after)
            except RuleError as exc:
                raise MatrixError(400, "M_UNKNOWN", str(exc)) from None
            await push_store.put_rule(conn, user, rule)
            await push_store.set_positions(conn, user, kind, order)
            bell = await self._publish(conn, user)
        self.forget(user)
        await self._bus.publish(bell)

    async def do_delete_rule(self, requester: Requester, kind: str, rule_id: str) -> None:
        _check_id(kind, rule_id)
        if rule_id.startswith("."):
            raise MatrixError(
                400, "M_UNKNOWN", "Server-default push rules cannot be deleted; disable them."
            )
        async with self._db.write() as conn:
            if not await push_store.delete_rule(conn, requester.user_id, kind, rule_id):
                raise _not_found(kind, rule_id)
            bell = await self._publish(conn, requester.user_id)
        self.forget(requester.user_id)
        await self._bus.publish(bell)

    async def do_set_enabled(
        self, requester: Requester, kind: str, rule_id: str, enabled: bool
    ) -> None:
        await self._change(requester, kind, rule_id, enabled=enabled)

    async def do_set_actions(
        self, requester: Requester, kind: str, rule_id: str, actions: object
    ) -> None:
        try:
            checked = validate_actions(actions)
        except RuleError as exc:
            raise bad_json(str(exc)) from None
        await self._change(requester, kind, rule_id, actions=checked)

    async def _change(
        self,
        requester: Requester,
        kind: str,
        rule_id: str,
        *,
        enabled: bool | None = None,
        actions: list[Any] | None = None,
    ) -> None:
        _check_id(kind, rule_id)
        user = requester.user_id
        async with self._db.write() as conn:
            stored = await push_store.list_rules(conn, user)
            if find(ruleset(user, stored), kind, rule_id) is None:
                raise _not_found(kind, rule_id)
            row = next((r for r in stored if r.kind == kind and r.rule_id == rule_id), None)
            if row is None:  # a server-default rule the user had not changed yet
                row = StoredRule(kind, rule_id, is_default=True)
            await push_store.put_rule(
                conn,
                user,
                StoredRule(
                    kind=kind,
                    rule_id=rule_id,
                    is_default=row.is_default,
                    position=row.position,
                    pattern=row.pattern,
                    conditions=row.conditions,
                    actions=actions if actions is not None else row.actions,
                    enabled=enabled if enabled is not None else row.enabled,
                ),
            )
            bell = await self._publish(conn, user)
        self.forget(user)
        await self._bus.publish(bell)

    async def _publish(self, conn: AsyncConnection, user_id: str) -> Doorbell:
        pos = await self._db.allocate_positions(conn)
        self.forget(user_id)
        content = self.account_data(ruleset(user_id, await push_store.list_rules(conn, user_id)))
        await data_store.put_account_data(conn, user_id, "", PUSH_RULES, content, pos)
        return Doorbell(position=pos, users=frozenset({user_id}))


def _check_id(kind: str, rule_id: str) -> None:
    try:
        validate_rule_id(kind, rule_id)
    except RuleError as exc:
        raise MatrixError(400, "M_INVALID_PARAM", str(exc)) from None


# ---- pushers ----------------------------------------------------------------------------------

MAX_PUSHKEY_BYTES = 512
MAX_APP_ID = 64
PUSH_PATH = "/_matrix/push/v1/notify"


class PusherService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def list(self, requester: Requester) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            found = await push_store.list_pushers(conn, requester.user_id)
        return [_pusher_json(p) for p in found]

    async def do_set(self, requester: Requester, body: Mapping[str, Any]) -> None:
        """Add, replace or (``kind: null``) delete a pusher, as ``/pushers/set`` says."""
        app_id, pushkey = _text(body, "app_id", MAX_APP_ID), body.get("pushkey")
        if not isinstance(pushkey, str) or not pushkey:
            raise bad_json("`pushkey` must be a non-empty string.")
        if len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
            raise bad_json(f"`pushkey` is limited to {MAX_PUSHKEY_BYTES} bytes.")
        if "kind" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "`kind` is required (null deletes).")
        kind = body["kind"]
        if kind is None:
            async with self._db.write() as conn:
                await push_store.delete_pushers(conn, app_id, pushkey, user_id=requester.user_id)
            return
        if kind == "email":
            raise MatrixError(
                400,
                "TUMAR_UNSUPPORTED_PUSHER",
                "Email notifications are not available on this server; use an http pusher.",
            )
        if kind != "http":
            raise bad_json('`kind` must be "http", "email" or null.')
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise bad_json("`data` must be an object.")
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise bad_json("An http pusher needs `data.url`: the push gateway's URL.")
        if not url.split("?", 1)[0].endswith(PUSH_PATH):
            raise bad_json(f"The push gateway URL must end with {PUSH_PATH}.")
        if "format" in data and data["format"] != "event_id_only":
            raise bad_json('The only `data.format` is "event_id_only".')
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise bad_json("`append` must be a boolean.")
        profile_tag = body.get("profile_tag")
        if profile_tag is not None and (not isinstance(profile_tag, str) or len(profile_tag) > 255):
            raise bad_json("`profile_tag` must be a string of at most 255 characters.")
        pusher = Pusher(
            user_id=requester.user_id,
            app_id=app_id,
            pushkey=pushkey,
            kind=kind,
            app_display_name=_text(body, "app_display_name", 255),
            device_display_name=_text(body, "device_display_name", 255),
            profile_tag=profile_tag,
            lang=_text(body, "lang", 32),
            data=dict(data),
            device_id=requester.device_id,
            created_ts=self._clock.now_ms(),
        )
        async with self._db.write() as conn:
            if not append:  # the same app and key of other users are replaced by this one
                await push_store.delete_pushers(
                    conn, app_id, pushkey, except_user=requester.user_id
                )
            await push_store.put_pusher(conn, pusher)


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        raise MatrixError(400, "M_MISSING_PARAM", f"`{name}` is required.")
    if not isinstance(value, str) or not value or len(value) > limit:
        raise bad_json(f"`{name}` must be a string of 1 to {limit} characters.")
    return value


def _pusher_json(p: Pusher) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pushkey": p.pushkey,
        "kind": p.kind,
        "app_id": p.app_id,
        "app_display_name": p.app_display_name,
        "device_display_name": p.device_display_name,
        "lang": p.lang,
        "data": dict(p.data),
    }
    if p.profile_tag is not None:
        out["profile_tag"] = p.profile_tag
    return out
