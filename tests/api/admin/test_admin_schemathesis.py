"""The admin API's own OpenAPI document stays true: schemathesis generates requests for every
operation in it and checks each response against it (no server errors, documented schemas and
content types), as an operator over a small real tree. Every case also runs with its path
parameters replaced by real ones, so success responses are checked, not only 4xx errors.

Generation is derandomised and bounded (``MAX_EXAMPLES`` per operation), so a run is
reproducible.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import POSTGRES_URL, make_settings, need, run_sync
from tests.support.harness import PASSWORD, LiveServer
from tumar.api.admin import openapi_document
from tumar.api.admin.base import PREFIX
from tumar.core.services import build_services
from tumar.tabular import XLSX_MEDIA_TYPE

# The import endpoints take an XLSX workbook as the raw body; random bytes must be refused.
schemathesis.openapi.media_type(XLSX_MEDIA_TYPE, st.binary(max_size=512))
MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {"seed": 20261122, "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True}}
    ),
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"admin-schemathesis-{backend}")
    if backend == "sqlite":
        db_path = data_dir / "tumar.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db_path)
        cfg = make_settings(database_url=f"sqlite+aiosqlite:///{db_path}", data_dir=data_dir)
    else:
        pg = request.getfixturevalue("postgres")
        need(pg.ready, pg.error or "PostgreSQL is not available")
        run_sync(pg.reset())
        cfg = make_settings(database_url=POSTGRES_URL, database_schema=pg.schema, data_dir=data_dir)
    live = LiveServer(cfg)
    live.start()
    yield live
    live.stop()


@dataclass
class World:
    server: LiveServer
    session: requests.Session
    token: str
    user_id: str
    person_id: str


async def _create_operator(server: LiveServer) -> None:
    """Through services of its own: the server's database pool belongs to its event loop."""
    services = build_services(server.settings)
    try:
        await services.accounts.do_create_user("fuzzroot", PASSWORD, admin=True)
    finally:
        await services.close()


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    with requests.Session() as http:
        run_sync(_create_operator(server))
        login = http.post(
            f"{server.url}/_matrix/client/v3/login",
            json={"type": "m.login.password", "user": "fuzzroot", "password": PASSWORD},
            timeout=30,
        )
        login.raise_for_status()
        token, user_id = login.json()["access_token"], login.json()["user_id"]
        auth = {"Authorization": f"Bearer {token}"}

        def post(path: str, body: dict[str, Any]) -> Any:
            resp = http.post(f"{server.url}{PREFIX}{path}", json=body, headers=auth, timeout=30)
            resp.raise_for_status()
            return resp.json()

        names = {"name_kk": "kk", "name_ru": "ru", "name_en": "en"}
        post("/orgs", {"code": "gov", "kind": "government", **names})
        post("/orgs", {"code": "mof", "parent_code": "gov", "kind": "ministry", **names})
        person = post(
            "/people",
            {"personnel_number": "1", "org_code": "mof", "name_cyr": "Ә", "name_lat": "A"},
        )
        yield World(server, http, token, user_id, person["person_id"])


def _realistic(case: Case, world: World) -> Case | None:
    real = {"code": "mof", "person_id": world.person_id, "user_id": world.user_id}
    params = case.path_parameters or {}
    swapped = {k: real.get(k, v) for k, v in params.items()}
    if swapped == params:
        return None
    derived = case.derive()
    derived.path_parameters = swapped
    return derived


def _call(case: Case, world: World) -> None:
    case.call_and_validate(
        base_url=world.server.url,
        session=world.session,
        headers={"Authorization": f"Bearer {world.token}"},
        checks=CHECKS,
        timeout=30,
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_admin_api(case: Case, world: World) -> None:
    _call(case, world)
    realistic = _realistic(case, world)
    if realistic is not None:
        _call(realistic, world)
