"""Test helpers for end-to-end encryption: real Ed25519 keys and signed JSON, built the way a
client builds them (the server only ever sees the public halves)."""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.harness import Api, User
from tumar.app import build_app
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.services import build_services
from tumar.policy.signatures import signed_bytes


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


@dataclass
class SigningKey:
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> str:
        return b64(self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, obj: dict[str, Any], user_id: str, key_id: str) -> dict[str, Any]:
        """A copy of ``obj`` with this key's signature added under ``user_id``/``key_id``."""
        out = copy.deepcopy(obj)
        signature = b64(self.private.sign(signed_bytes(out)))
        out.setdefault("signatures", {}).setdefault(user_id, {})[key_id] = signature
        return out


@dataclass
class Device:
    user_id: str
    device_id: str
    ed25519: SigningKey
    curve25519: str

    @classmethod
    def generate(cls, user_id: str, device_id: str) -> Device:
        return cls(user_id, device_id, SigningKey.generate(), b64(os.urandom(32)))

    @property
    def key_id(self) -> str:
        return f"ed25519:{self.device_id}"

    def device_keys(self) -> dict[str, Any]:
        obj = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                f"curve25519:{self.device_id}": self.curve25519,
                f"ed25519:{self.device_id}": self.ed25519.public,
            },
        }
        return self.ed25519.sign(obj, self.user_id, self.key_id)

    def one_time_keys(
        self, count: int, start: int = 0, *, fallback: bool = False
    ) -> dict[str, Any]:
        keys = {}
        for i in range(start, start + count):
            obj: dict[str, Any] = {"key": b64(f"otk-{self.device_id}-{i}".encode())}
            if fallback:
                obj["fallback"] = True
            keys[f"signed_curve25519:K{i:05d}"] = self.ed25519.sign(obj, self.user_id, self.key_id)
        return keys


@dataclass
class CrossSigning:
    user_id: str
    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls, user_id: str) -> CrossSigning:
        return cls(user_id, SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    def _key(self, usage: str, key: SigningKey) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "usage": [usage],
            "keys": {f"ed25519:{key.public}": key.public},
        }

    @property
    def master_key_id(self) -> str:
        return f"ed25519:{self.master.public}"

    def master_key(self) -> dict[str, Any]:
        return self._key("master", self.master)

    def self_signing_key(self) -> dict[str, Any]:
        obj = self._key("self_signing", self.self_signing)
        return self.master.sign(obj, self.user_id, self.master_key_id)

    def user_signing_key(self) -> dict[str, Any]:
        obj = self._key("user_signing", self.user_signing)
        return self.master.sign(obj, self.user_id, self.master_key_id)

    def upload_body(self) -> dict[str, Any]:
        return {
            "master_key": self.master_key(),
            "self_signing_key": self.self_signing_key(),
            "user_signing_key": self.user_signing_key(),
        }


@asynccontextmanager
async def api_with(
    settings: Settings, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Api]:
    """An in-process API on the test's database with some settings changed."""
    services = build_services(settings.model_copy(update=overrides), clock=clock)
    await services.start()
    try:
        async with Api.in_process(build_app(services.settings, services), services) as api:
            yield api
    finally:
        await services.close()


async def upload_device(api: Api, user: User, otks: int = 0, *, fallback: bool = False) -> Device:
    """Upload identity keys (and optionally one-time and fallback keys) for ``user``'s device."""
    device = Device.generate(user.user_id, user.device_id)
    body: dict[str, Any] = {"device_keys": device.device_keys()}
    if otks:
        body["one_time_keys"] = device.one_time_keys(otks)
    if fallback:
        body["fallback_keys"] = device.one_time_keys(1, 90_000, fallback=True)
    await api.call("POST", "/keys/upload", user=user, json=body)
    return device


async def register(api: Api, localpart: str) -> User:
    """Register, then make one request: the first request of a device records when it was
    last seen, which would otherwise show up as a change in a refused request's snapshot."""
    user = await api.register(localpart)
    await api.call("GET", "/account/whoami", user=user)
    return user
