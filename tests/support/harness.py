"""Test helpers: an API client that builds data through the real endpoints, and a live
server on a loopback port for real Matrix clients."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import FastAPI

from tumar.app import build_app
from tumar.config import Settings
from tumar.core.services import Services

CLIENT = "/_matrix/client/v3"
PASSWORD = "correct horse battery"
_txn = itertools.count(1)


@dataclass(frozen=True)
class User:
    user_id: str
    token: str
    device_id: str
    password: str = PASSWORD


def q(value: str) -> str:
    """Percent-encode one path segment (room ids, aliases, event ids, user ids)."""
    return quote(value, safe="")


class Api:
    def __init__(self, client: httpx.AsyncClient, services: Services | None = None) -> None:
        self.client = client
        self.services = services

    @classmethod
    @asynccontextmanager
    async def in_process(cls, app: FastAPI, services: Services) -> AsyncIterator[Api]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://tumar.test") as c:
            yield cls(c, services)

    async def raw(
        self,
        method: str,
        path: str,
        *,
        user: User | None = None,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = path if path.startswith(("/_", "/.")) else CLIENT + path
        hdrs = dict(headers or {})
        if user is not None:
            hdrs["Authorization"] = f"Bearer {user.token}"
        return await self.client.request(
            method, url, json=json, content=content, params=params, headers=hdrs
        )

    async def call(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.raw(method, path, **kwargs)
        assert resp.status_code == expect, (
            f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text}"
        )
        return resp.json()

    async def error(
        self, method: str, path: str, status: int, errcode: str, **kwargs: Any
    ) -> dict[str, Any]:
        resp = await self.raw(method, path, **kwargs)
        body = resp.json()
        assert (resp.status_code, body.get("errcode")) == (status, errcode), (
            f"{method} {path}: expected {status} {errcode}, got {resp.status_code}: {resp.text}"
        )
        assert isinstance(body.get("error"), str) and body["error"], "error text missing"
        return dict(body)

    async def register(self, localpart: str, password: str = PASSWORD) -> User:
        body = await self.call(
            "POST",
            "/register",
            json={"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}},
        )
        return User(body["user_id"], body["access_token"], body["device_id"], password)

    async def login(self, localpart: str, password: str = PASSWORD, **extra: Any) -> User:
        body = await self.call(
            "POST",
            "/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": localpart},
                "password": password,
                **extra,
            },
        )
        return User(body["user_id"], body["access_token"], body["device_id"], password)

    async def create_room(self, user: User, **body: Any) -> str:
        result = await self.call("POST", "/createRoom", user=user, json=body)
        return str(result["room_id"])

    async def join(self, user: User, room_id: str) -> None:
        await self.call("POST", f"/rooms/{q(room_id)}/join", user=user, json={})

    async def send(
        self, user: User, room_id: str, body: str = "hello", *, txn: str | None = None
    ) -> str:
        txn = txn or f"t{next(_txn)}"
        result = await self.call(
            "PUT",
            f"/rooms/{q(room_id)}/send/m.room.message/{txn}",
            user=user,
            json={"msgtype": "m.text", "body": body},
        )
        return str(result["event_id"])

    async def sync(self, user: User, since: str | None = None, **params: Any) -> dict[str, Any]:
        if since is not None:
            params["since"] = since
        result: dict[str, Any] = await self.call("GET", "/sync", user=user, params=params)
        return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """tumar on 127.0.0.1 in a background thread, for real Matrix clients."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = settings.model_copy(update={"public_baseurl": self.url + "/"})
        self.settings = settings
        self.app = build_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("tumar did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
