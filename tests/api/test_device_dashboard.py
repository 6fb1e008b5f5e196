"""The device dashboard of the admin API (issue 8), on both backends: a policy's schedule
preview, devices per organisation with the verdict as it stands now, counts rolled up the tree,
open violations, and the scope of each (the world of ``test_device_gate.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.api.test_device_gate import (
    agent_for,
    api,
    apply_policy,
    camera_on,
    clock,
    compliant,
    ms,
    services,
    world,
)
from tests.support.admin import ADMIN, grant, org
from tests.support.harness import Api
from tumar.clock import FakeClock

__all__ = ["api", "clock", "services"]  # the fixtures


async def test_the_preview_says_whether_the_policy_restricts_and_when_that_changes(
    api: Api,
) -> None:
    w = await world(api)
    policy_id = await apply_policy(api, w)
    url = f"{ADMIN}/device-policies/{policy_id}/preview"
    now = await api.call("GET", url, user=w.sec)
    assert now["working_hours"] is True
    assert now["restricted_on_premises"] == ["camera", "screen_capture"]
    assert now["gated_labels"] == ["official-use"]
    assert now["next_change_ts"] == ms("2026-03-02T13:00:00")  # 18:00 in Almaty
    assert [c["working_hours"] for c in now["changes"][:3]] == [False, True, False]
    assert now["org_codes"] == ["mof"]
    weekend = await api.call("GET", url, user=w.sec, params={"at": "2026-03-07T12:00:00+05:00"})
    assert weekend["working_hours"] is False and weekend["restricted_on_premises"] == []
    assert weekend["gated_labels"] == []
    assert weekend["next_change_ts"] == ms("2026-03-09T04:00:00")  # Monday 09:00
    await api.error("GET", url, 400, "M_INVALID_PARAM", user=w.sec, params={"at": "soon"})
    await api.error("GET", url, 400, "M_INVALID_PARAM", user=w.sec, params={"at": "2026-03-07"})
    await api.error("GET", f"{ADMIN}/device-policies/nope/preview", 404, "M_NOT_FOUND", user=w.sec)
    await api.error("GET", url, 403, "M_FORBIDDEN", user=w.a1)  # no administrative role


async def test_devices_counts_and_violations_per_organisation_in_scope(
    api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    await org(api, w.root, "mof-it", parent="mof", kind="department")
    await apply_policy(api, w)
    a1 = await agent_for(api, clock, w.a1, tmp_path)
    a2 = await agent_for(api, clock, w.a2, tmp_path)
    c1 = await agent_for(api, clock, w.c1, tmp_path)
    await a1.checkin(compliant())
    await a2.checkin(camera_on())
    await c1.checkin(compliant())

    listed = await api.call("GET", f"{ADMIN}/devices", user=w.sec)
    assert listed["total"] == 2
    assert {d["user_id"] for d in listed["devices"]} == {w.a1.user_id, w.a2.user_id}
    bad = await api.call("GET", f"{ADMIN}/devices", user=w.sec, params={"verdict": "non_compliant"})
    assert [d["user_id"] for d in bad["devices"]] == [w.a2.user_id]
    assert "camera" in bad["devices"][0]["findings"][0]["reason"].lower()
    everyone = await api.call("GET", f"{ADMIN}/devices", user=w.root)
    assert everyone["total"] == 3

    summary = await api.call("GET", f"{ADMIN}/devices/summary", user=w.sec)
    assert [o["code"] for o in summary["organisations"]] == ["mof"]
    assert summary["total"] == {"enrolled": 2, "compliant": 1, "non_compliant": 1, "unknown": 0}
    tree = await api.call("GET", f"{ADMIN}/devices/summary", user=w.root)
    by_code = {o["code"]: o for o in tree["organisations"]}
    assert by_code["gov"]["own"]["enrolled"] == 0 and by_code["gov"]["total"]["enrolled"] == 3
    assert by_code["moh"]["total"]["compliant"] == 1
    assert tree["total"]["enrolled"] == 3

    # Stale check-ins count as unknown: the access they gave has lapsed.
    clock.advance(31 * 60)
    later = await api.call("GET", f"{ADMIN}/devices/summary", user=w.sec)
    assert later["total"] == {"enrolled": 2, "compliant": 0, "non_compliant": 1, "unknown": 1}
    lapsed = await api.call("GET", f"{ADMIN}/devices", user=w.sec, params={"verdict": "unknown"})
    assert [d["user_id"] for d in lapsed["devices"]] == [w.a1.user_id]

    # The non-compliant device (no grace period) has an open violation; it closes on compliance.
    open_ = await api.call("GET", f"{ADMIN}/device-violations", user=w.sec)
    assert [v["user_id"] for v in open_["violations"]] == [w.a2.user_id]
    await a2.checkin(compliant())
    assert (await api.call("GET", f"{ADMIN}/device-violations", user=w.sec))["total"] == 0
    closed = await api.call(
        "GET", f"{ADMIN}/device-violations", user=w.sec, params={"open": "false"}
    )
    assert closed["total"] == 1 and closed["violations"][0]["closed_ts"] is not None

    # Scope: another ministry, unknown organisations, no permission, bad filters.
    moh = await api.register("mohsec")
    await grant(api, w.root, moh.user_id, "security_officer", "moh")
    assert (await api.call("GET", f"{ADMIN}/devices", user=moh))["total"] == 1
    assert (await api.call("GET", f"{ADMIN}/device-violations", user=moh))["total"] == 0
    for path in ("/devices", "/devices/summary", "/device-violations"):
        await api.error(
            "GET", f"{ADMIN}{path}", 403, "TUMAR_OUT_OF_SCOPE", user=w.sec, params={"org": "moh"}
        )
        await api.error("GET", f"{ADMIN}{path}", 403, "M_FORBIDDEN", user=w.a1)
        await api.error(
            "GET", f"{ADMIN}{path}", 404, "M_NOT_FOUND", user=w.root, params={"org": "nope"}
        )
    await api.error(
        "GET", f"{ADMIN}/devices", 400, "M_INVALID_PARAM", user=w.sec, params={"verdict": "x"}
    )
    sub = await api.call("GET", f"{ADMIN}/devices", user=w.sec, params={"org": "mof-it"})
    assert sub["total"] == 0
