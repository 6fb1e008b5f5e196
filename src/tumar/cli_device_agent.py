"""``tumar device-agent``: the reference device agent of device policy (issue 8).

It enrols with a one-time token (given, from a ``tumar-enrol:`` QR payload, or issued to
itself with the official's login when the deployment allows self-service), keeps its Ed25519
key and sequence number in a state file, and checks in with a simulated state and position
(flags, or a JSON file re-read before every check-in), once or in a loop at the interval the
server asks for. It obeys commands: ``show_message`` is printed, ``lock_content`` and
``wipe_content`` are recorded in the state file, ``sync_now`` checks in again at once; every
command is acknowledged in the next check-in.

It is the specification a mobile app implements (``docs/device-policy.md``, "Enrolment and
check-ins"): the wire format is built by :func:`checkin_body` and :func:`sign`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tumar.core.device_checkins import signing_bytes
from tumar.policy.device_policy import MANAGEMENT_MODES, OWNERSHIPS, PLATFORMS, RESTRICTIONS

DEVICES = "/_tumar/devices/v1"
Out = Callable[[str], None]


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Simulated:
    """The state and position the agent reports."""

    platform: str = "android"
    os_version: str = "14"
    restricted: set[str] = field(default_factory=set)
    rooted: bool | None = False
    screen_lock: bool | None = True
    encrypted: bool | None = True
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float = 20.0
    networks: set[str] = field(default_factory=set)

    def merge_json(self, data: Mapping[str, Any]) -> Simulated:
        """Override fields from a JSON object (the ``--simulate`` file)."""
        sim = Simulated(**{**self.__dict__})
        for key in ("platform", "os_version", "lat", "lon", "accuracy_m"):
            if key in data:
                setattr(sim, key, data[key])
        if "restricted" in data:
            sim.restricted = set(data["restricted"])
        if "networks" in data:
            sim.networks = set(data["networks"])
        for key in ("rooted", "screen_lock", "encrypted"):
            if key in data.get("security", {}):
                setattr(sim, key, data["security"][key])
        return sim


def sign(private_key: Ed25519PrivateKey, body: Mapping[str, Any]) -> str:
    """Standard base64 Ed25519 signature over the body's signing bytes (without
    ``signature``)."""
    return base64.b64encode(private_key.sign(signing_bytes(body))).decode()


def checkin_body(
    device_id: str,
    seq: int,
    sent_ts: int,
    sim: Simulated,
    acks: list[dict[str, str]],
    private_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    fix = None
    if sim.lat is not None and sim.lon is not None:
        fix = {"lat": sim.lat, "lon": sim.lon, "accuracy_m": sim.accuracy_m, "ts": sent_ts}
    body: dict[str, Any] = {
        "device_id": device_id,
        "seq": seq,
        "sent_ts": sent_ts,
        "state": {
            "platform": sim.platform,
            "os_version": sim.os_version,
            "restricted": sorted(sim.restricted),
            "security": {
                "rooted": sim.rooted,
                "screen_lock": sim.screen_lock,
                "encrypted": sim.encrypted,
            },
        },
        "evidence": {"fix": fix, "networks": sorted(sim.networks)},
        "acks": acks,
    }
    body["signature"] = sign(private_key, body)
    return body


def parse_qr(payload: str) -> tuple[str, str]:
    """(server URL, token) from a ``tumar-enrol:?server=...&token=...`` payload."""
    parts = urlsplit(payload)
    query = parse_qs(parts.query)
    if parts.scheme != "tumar-enrol" or "token" not in query or "server" not in query:
        raise ValueError("not a tumar-enrol: payload")
    return query["server"][0], query["token"][0]


class AgentError(Exception):
    pass


class Agent:
    """One enrolled device: its state file, and the HTTP client to the server."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        state_path: Path,
        *,
        now_ms: Callable[[], int] = wall_ms,
        out: Out = print,
    ) -> None:
        self.client = client
        self.path = state_path
        self.now_ms = now_ms
        self.out = out
        self.state: dict[str, Any] = (
            json.loads(state_path.read_text("utf-8")) if state_path.exists() else {}
        )

    @property
    def enrolled(self) -> bool:
        return "device_id" in self.state

    def save(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, indent=2, sort_keys=True)
        tmp.replace(self.path)

    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(self.state["private_key"]))

    async def _post(self, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.post(path, json=body, headers=headers)
        data: dict[str, Any] = resp.json() if resp.content else {}
        if resp.status_code >= 400:
            raise AgentError(f"{resp.status_code} {data.get('errcode')}: {data.get('error')}")
        return data

    async def login(self, user: str, password: str) -> str:
        data = await self._post(
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
                "initial_device_display_name": "tumar device agent",
            },
        )
        return str(data["access_token"])

    async def own_token(self, access_token: str) -> str:
        data = await self._post(f"{DEVICES}/enrolment-tokens", {}, access_token)
        return str(data["token"])

    async def enrol(
        self,
        token: str,
        access_token: str,
        sim: Simulated,
        *,
        model: str = "reference agent",
        management_mode: str = "unmanaged",
        ownership: str = "personal",
        attestation: Mapping[str, Any] | None = None,
    ) -> str:
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes_raw()
        data = await self._post(
            f"{DEVICES}/enrol",
            {
                "token": token,
                "public_key": base64.b64encode(public).decode(),
                "platform": sim.platform,
                "model": model,
                "os_version": sim.os_version,
                "management_mode": management_mode,
                "ownership": ownership,
                "attestation": dict(attestation or {"kind": "none", "agent": "tumar"}),
            },
            access_token,
        )
        self.state = {
            "device_id": data["device_id"],
            "private_key": base64.b64encode(key.private_bytes_raw()).decode(),
            "seq": 0,
            "acks": [],
            "locked": False,
            "wiped": False,
            "messages": [],
            "checkin_interval_ms": data["checkin_interval_ms"],
        }
        self.save()
        self.out(f"enrolled {data['device_id']}")
        return str(data["device_id"])

    async def checkin(self, sim: Simulated) -> dict[str, Any]:
        """One check-in; the state file records the sequence number first, so a crash never
        reuses one."""
        if not self.enrolled:
            raise AgentError("not enrolled: give --token, --qr or --user")
        self.state["seq"] = int(self.state["seq"]) + 1
        self.save()
        acks = list(self.state.get("acks", []))
        body = checkin_body(
            self.state["device_id"], self.state["seq"], self.now_ms(), sim, acks, self._key()
        )
        answer = await self._post(f"{DEVICES}/checkin", body)
        required = ", ".join(answer["required_restrictions"]) or "none"
        self.out(f"seq {self.state['seq']}: {answer['verdict']} (required: {required})")
        for f in answer["findings"]:
            self.out(f"  finding: {f['reason']}")
        self.state["acks"] = []
        self.state["last_answer"] = answer
        for c in answer.get("commands", []):
            self.state["acks"].append({"command_id": c["command_id"], "result": self._obey(c)})
        self.save()
        return answer

    def _obey(self, c: Mapping[str, Any]) -> str:
        kind = c.get("kind")
        if kind == "show_message":
            message = str(c.get("payload", {}).get("message", ""))
            self.state.setdefault("messages", []).append(message)
            self.out(f"MESSAGE: {message}")
            return "shown"
        if kind == "lock_content":
            self.state["locked"] = True
            self.out("official content locked")
            return "locked"
        if kind == "wipe_content":
            self.state["locked"] = True
            self.state["wiped"] = True
            self.out("official content wiped")
            return "wiped"
        if kind == "sync_now":
            self.state["sync_now"] = True
            return "done"
        return "unsupported"

    async def run(
        self,
        sim_of: Callable[[], Simulated],
        *,
        count: int | None = None,
        interval_s: float | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> int:
        """Check in ``count`` times (None: until stopped), waiting as the server asks (or
        ``interval_s``); ``sync_now`` skips the wait once."""
        done = 0
        while count is None or done < count:
            answer = await self.checkin(sim_of())
            done += 1
            if count is not None and done >= count:
                break
            if self.state.pop("sync_now", False):
                continue
            wait = interval_s if interval_s is not None else answer["next_checkin_ms"] / 1000
            await sleep(wait)
        return done


# ---- command line ---------------------------------------------------------------------------


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser("device-agent", help="reference device agent: enrol and check in")
    p.add_argument("--server", help="server URL (default: from --qr or the state file)")
    p.add_argument("--state", type=Path, default=Path("device-agent.json"), help="state file")
    enrol = p.add_argument_group("enrolment")
    enrol.add_argument("--token", help="one-time enrolment token")
    enrol.add_argument("--qr", help="a tumar-enrol: QR payload (server and token)")
    enrol.add_argument("--user", help="the official's user id or name (to sign in)")
    enrol.add_argument("--password", help="the official's password (or TUMAR_AGENT_PASSWORD)")
    enrol.add_argument("--access-token", help="access token of the session to bind")
    enrol.add_argument("--model", default="reference agent")
    enrol.add_argument("--management-mode", choices=MANAGEMENT_MODES, default="unmanaged")
    enrol.add_argument("--ownership", choices=OWNERSHIPS, default="personal")
    sim = p.add_argument_group("simulated state")
    sim.add_argument("--platform", choices=PLATFORMS, default="android")
    sim.add_argument("--os-version", default="14")
    for name in RESTRICTIONS:
        sim.add_argument(
            f"--{name.replace('_', '-')}",
            choices=["on", "off"],
            help=f"{name}: on (allowed) or off (restricted)",
        )
    sim.add_argument("--rooted", action="store_true")
    sim.add_argument("--no-screen-lock", action="store_true")
    sim.add_argument("--unencrypted", action="store_true")
    sim.add_argument("--lat", type=float)
    sim.add_argument("--lon", type=float)
    sim.add_argument("--accuracy", type=float, default=20.0, help="metres")
    sim.add_argument("--wifi", action="append", default=[], help="SSID seen (repeat)")
    sim.add_argument("--network", action="append", default=[], help="network hint (repeat)")
    sim.add_argument("--simulate", type=Path, help="JSON file re-read before every check-in")
    loop = p.add_argument_group("loop")
    loop.add_argument("--once", action="store_true", help="check in once and exit")
    loop.add_argument("--count", type=int, help="check in this many times")
    loop.add_argument("--interval", type=float, help="seconds between check-ins")


def simulated(args: argparse.Namespace) -> Simulated:
    restricted = {n for n in RESTRICTIONS if getattr(args, n, None) == "off"}
    return Simulated(
        platform=args.platform,
        os_version=args.os_version,
        restricted=restricted,
        rooted=args.rooted,
        screen_lock=not args.no_screen_lock,
        encrypted=not args.unencrypted,
        lat=args.lat,
        lon=args.lon,
        accuracy_m=args.accuracy,
        networks={f"wifi:{s}" for s in args.wifi} | set(args.network),
    )


async def run_agent(
    args: argparse.Namespace,
    client: httpx.AsyncClient | None = None,
    *,
    now_ms: Callable[[], int] = wall_ms,
    out: Out = print,
) -> int:
    """The command, with an optional client (tests pass one bound to an in-process app)."""
    state: dict[str, Any] = {}
    if args.state.exists():
        state = json.loads(args.state.read_text("utf-8"))
    server, token = args.server or state.get("server"), args.token
    if args.qr:
        server, token = parse_qr(args.qr)
        server = args.server or server
    if client is None and not server:
        raise AgentError("give --server (or --qr)")
    own = client is None
    client = client or httpx.AsyncClient(base_url=str(server), timeout=30)
    try:
        agent = Agent(client, args.state, now_ms=now_ms, out=out)
        base = simulated(args)
        if not agent.enrolled or token:
            password = args.password or os.environ.get("TUMAR_AGENT_PASSWORD")
            access = args.access_token
            if access is None:
                if not (args.user and password):
                    raise AgentError("to enrol, give --access-token or --user and --password")
                access = await agent.login(args.user, password)
            if token is None:
                token = await agent.own_token(access)
            await agent.enrol(
                token, access, base, model=args.model,
                management_mode=args.management_mode, ownership=args.ownership,
            )  # fmt: skip
            if server:
                agent.state["server"] = str(server)
                agent.save()

        def sim_of() -> Simulated:
            if args.simulate is None:
                return base
            return base.merge_json(json.loads(args.simulate.read_text("utf-8")))

        count = 1 if args.once else args.count
        await agent.run(sim_of, count=count, interval_s=args.interval)
        return 0
    finally:
        if own:
            await client.aclose()


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run_agent(args))
    except (AgentError, ValueError, httpx.HTTPError) as exc:
        print(f"tumar device-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
