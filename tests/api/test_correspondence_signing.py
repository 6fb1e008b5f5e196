"""Signatures on letters with both key kinds (Ed25519 managed by tumar, X.509 certificates of a
test CA), refusals of bad certificates, tamper detection in the database and the media store,
attachment limits, and the zip bundle; on both backends."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update

from tests.support.admin import ADMIN
from tests.support.harness import Api
from tests.support.letters_world import (
    LETTERS,
    World,
    build_world,
    draft,
    registered_letter,
    signed_letter,
    step,
)
from tests.support.media import upload
from tests.support.test_ca import Issued, build_ca
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.media import original_key
from tumar.core.services import Services, build_services
from tumar.store.media_storage import FileMediaStorage
from tumar.store.schema import letters, signing_keys

T0 = datetime.datetime(2026, 3, 2, 6, tzinfo=datetime.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(int(T0.timestamp() * 1000))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"letters_max_attachment_bytes": 10_000})


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def world(api: Api) -> World:
    return await build_world(api)


async def anchor(api: Api, w: World) -> None:
    await api.call(
        "POST", f"{ADMIN}/correspondence/anchors", user=w.root,
        json={"certificate_pem": build_ca().root.pem}, expect=201,
    )  # fmt: skip


async def import_cert(api: Api, w: World, issued: Issued, expect: int = 201) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", f"{LETTERS}/signing-keys/certificate", user=w["signer"],
        json={"certificate_pem": issued.pem, "private_key_pem": issued.key_pem,
              "chain_pem": build_ca().chain_of(issued)},
        expect=expect,
    )  # fmt: skip
    return result


async def key_rows(api: Api) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(signing_keys))).scalar_one()
        )


async def with_attachment(api: Api, w: World, data: bytes = b"%PDF-1.4 figures") -> str:
    mxc = await upload(api, w["author"], data, "application/octet-stream")
    return str(mxc)


async def test_ed25519_signature_verifies(api: Api, world: World) -> None:
    mxc = await with_attachment(api, world)
    letter = await registered_letter(api, world, attachments=[{"mxc": mxc, "name": "f.pdf"}])
    assert letter["attachments"][0]["sha256"] is not None
    report = await api.call("GET", f"{LETTERS}/letters/{letter['letter_id']}/verify",
                            user=world["clerk2"])  # fmt: skip
    assert report["ok"] is True, report
    assert report["signer"] == world["signer"].user_id
    assert [s["stage"] for s in report["signatures"]] == ["signature", "registration"]
    assert report["attachments"][0]["unchanged"] is True


@pytest.mark.parametrize("which", ["rsa_leaf", "rsa_pss_leaf", "ec_leaf", "ec384_leaf"])
async def test_x509_signature_verifies(api: Api, world: World, which: str) -> None:
    await anchor(api, world)
    issued = getattr(build_ca(), which)
    key = await import_cert(api, world, issued)
    assert key["kind"] == "x509" and key["subject"]
    letter = await signed_letter(api, world)
    report = await api.call(
        "GET", f"{LETTERS}/letters/{letter['letter_id']}/verify", user=world["author"]
    )
    assert report["ok"] is True, report
    sig = report["signatures"][0]
    assert sig["kind"] == "x509" and sig["chain_ok"] is True
    assert sig["certificate"]["serial"]


@pytest.mark.parametrize(
    ("which", "words"),
    [("expired_leaf", "expired"), ("foreign_leaf", "anchor"), ("no_usage_leaf", "usage"),
     ("not_ca_leaf", "CA")],
)  # fmt: skip
async def test_bad_certificates_refused(api: Api, world: World, which: str, words: str) -> None:
    await anchor(api, world)
    before = await key_rows(api)
    err = await api.error(
        "POST", f"{LETTERS}/signing-keys/certificate", 400, "TUMAR_CERTIFICATE_INVALID",
        user=world["signer"],
        json={"certificate_pem": getattr(build_ca(), which).pem,
              "private_key_pem": getattr(build_ca(), which).key_pem,
              "chain_pem": build_ca().chain_of(getattr(build_ca(), which))},
    )  # fmt: skip
    assert words.lower() in err["error"].lower(), err
    assert await key_rows(api) == before


async def test_certificate_needs_anchor_and_matching_key(api: Api, world: World) -> None:
    ca = build_ca()
    await api.error(
        "POST", f"{LETTERS}/signing-keys/certificate", 400, "TUMAR_CERTIFICATE_INVALID",
        user=world["signer"],
        json={"certificate_pem": ca.rsa_leaf.pem, "private_key_pem": ca.rsa_leaf.key_pem},
    )  # fmt: skip
    await anchor(api, world)
    await api.error(
        "POST", f"{LETTERS}/signing-keys/certificate", 400, "TUMAR_CERTIFICATE_INVALID",
        user=world["signer"],
        json={"certificate_pem": ca.rsa_leaf.pem, "private_key_pem": ca.ec_leaf.key_pem,
              "chain_pem": ca.chain_of(ca.rsa_leaf)},
    )  # fmt: skip
    # only signatories hold keys
    await api.error(
        "POST", f"{LETTERS}/signing-keys", 403, "M_FORBIDDEN", user=world["author"], json={}
    )
    assert await key_rows(api) == 0


async def test_certificate_expired_at_signing(api: Api, world: World, clock: FakeClock) -> None:
    await anchor(api, world)
    await import_cert(api, world, build_ca().ec_leaf)
    letter = await draft(api, world, approvers=[])
    lid = letter["letter_id"]
    await step(api, world["author"], lid, "submit")
    clock.advance(20 * 365 * 86400)  # long after the certificate's end
    await api.error(
        "POST",
        f"{LETTERS}/letters/{lid}/sign",
        400,
        "TUMAR_CERTIFICATE_INVALID",
        user=world["signer"],
    )
    got = await api.call("GET", f"{LETTERS}/letters/{lid}", user=world["author"])
    assert got["status"] == "approved" and got["signatures"] == []


async def test_tampered_body_is_detected(api: Api, world: World) -> None:
    letter = await registered_letter(api, world)
    lid = letter["letter_id"]
    assert api.services is not None
    async with api.services.db.write() as conn:
        await conn.execute(
            update(letters).where(letters.c.letter_id == lid).values(body="Send nothing.")
        )
    report = await api.call("GET", f"{LETTERS}/letters/{lid}/verify", user=world["author"])
    assert report["ok"] is False
    assert report["content_unchanged"] is False
    assert any("changed" in r for r in report["reasons"])


async def test_tampered_number_is_detected(api: Api, world: World) -> None:
    letter = await registered_letter(api, world)
    lid = letter["letter_id"]
    assert api.services is not None
    async with api.services.db.write() as conn:
        await conn.execute(
            update(letters).where(letters.c.letter_id == lid).values(outgoing_number="MOF-1/26")
        )
    report = await api.call("GET", f"{LETTERS}/letters/{lid}/verify", user=world["author"])
    assert report["ok"] is False
    stages = {s["stage"]: s["ok"] for s in report["signatures"]}
    assert stages == {"signature": True, "registration": False}


async def test_tampered_attachment_is_detected(api: Api, world: World) -> None:
    mxc = await with_attachment(api, world)
    letter = await registered_letter(api, world, attachments=[{"mxc": mxc, "name": "f.pdf"}])
    assert api.services is not None
    storage = FileMediaStorage(api.services.settings.effective_media_dir)
    storage.path(original_key(mxc.rsplit("/", 1)[1])).write_bytes(b"%PDF-1.4 other figures")
    report = await api.call(
        "GET", f"{LETTERS}/letters/{letter['letter_id']}/verify", user=world["author"]
    )
    assert report["ok"] is False
    assert report["content_unchanged"] is True
    assert report["attachments_unchanged"] is False


async def test_attachments_over_the_limit(api: Api, world: World) -> None:
    small = await with_attachment(api, world, b"x" * 6000)
    other = await with_attachment(api, world, b"y" * 6000)
    before = await key_rows(api)
    await api.error(
        "POST", f"{LETTERS}/letters", 413, "M_TOO_LARGE", user=world["author"],
        json={"sender_org": "mof", "recipients": ["moh"], "subject": "s", "body": "b",
              "attachments": [{"mxc": small, "name": "a"}, {"mxc": other, "name": "b"}]},
    )  # fmt: skip
    assert await key_rows(api) == before
    # someone else's upload cannot be attached
    theirs = await upload(api, world["clerk"], b"z", "application/octet-stream")
    await api.error(
        "POST", f"{LETTERS}/letters", 403, "M_FORBIDDEN", user=world["author"],
        json={"sender_org": "mof", "recipients": ["moh"], "subject": "s", "body": "b",
              "attachments": [{"mxc": theirs, "name": "a"}]},
    )  # fmt: skip


async def test_bundle_contents(api: Api, world: World) -> None:
    mxc = await with_attachment(api, world)
    letter = await registered_letter(
        api, world, attachments=[{"mxc": mxc, "name": "figures.pdf"}],
        subject="<script>alert(1)</script> budget",
    )  # fmt: skip
    lid = letter["letter_id"]
    resp = await api.raw("GET", f"{LETTERS}/letters/{lid}/bundle", user=world["clerk2"])
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(resp.content))
    names = set(z.namelist())
    assert {"letter.json", "letter.html", "signatures.json", "report.json", "report.html",
            "attachments/figures.pdf", "signatures/1-signature.sig",
            "signatures/2-registration.sig"} <= names  # fmt: skip
    record = orjson.loads(z.read("letter.json"))
    assert record["outgoing_number"] == "MOF-00001/26"
    assert orjson.loads(z.read("report.json"))["ok"] is True
    assert z.read("attachments/figures.pdf") == b"%PDF-1.4 figures"
    assert b"<script>" not in z.read("letter.html")
    assert b"<script>" not in z.read("report.html")
    # not registered yet: nothing to export
    other = await draft(api, world)
    await api.error(
        "GET", f"{LETTERS}/letters/{other['letter_id']}/bundle", 409,
        "TUMAR_LETTER_TRANSITION", user=world["author"],
    )  # fmt: skip


async def test_attachment_download_for_participants(api: Api, world: World) -> None:
    mxc = await with_attachment(api, world)
    letter = await registered_letter(api, world, attachments=[{"mxc": mxc, "name": "f.pdf"}])
    lid = letter["letter_id"]
    resp = await api.raw("GET", f"{LETTERS}/letters/{lid}/attachments/0", user=world["clerk2"])
    assert resp.status_code == 200 and resp.content == b"%PDF-1.4 figures"
    await api.error(
        "GET", f"{LETTERS}/letters/{lid}/attachments/0", 404, "M_NOT_FOUND", user=world["it1"]
    )
