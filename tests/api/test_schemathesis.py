"""Property-based API tests: schemathesis over every spec operation tumar implements.

The operations are the app's own routes -- under ``/_matrix/client/v3`` and ``v1``, and the
root ones such as ``/_matrix/client/versions`` and ``/.well-known/matrix/client`` --
intersected with the Matrix spec bundle; ``test_operations_covered`` lists the routes left
out and why. Each operation runs over HTTP against a live tumar (one per backend, SQLite and
PostgreSQL, shared by the operations) as a freshly registered user, with the checks
``not_a_server_error``, ``response_schema_conformance`` and ``content_type_conformance``.

Path parameters generated at random mostly name rooms, users and events that do not exist:
those requests must still get proper 4xx Matrix errors. Every case is also replayed with its
room, user, event and device ids replaced by real ones (a room the user created, the user
itself, an event in that room, its device) and working credentials for ``/login`` and
``/register``, so the success paths see the same random bodies and query strings.

Generation is derandomised and bounded (``MAX_EXAMPLES`` fuzzed cases per operation, plus
schemathesis' coverage phase), so a run is reproducible and takes about a minute per backend
on two cores.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import POSTGRES_URL, make_settings, need, run_sync
from tests.support.harness import PASSWORD, LiveServer, q
from tests.support.matrix_spec import bundle_operations, load_bundle
from tests.support.media import png_bytes
from tumar.app import CLIENT_PREFIXES, build_app

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
V3 = CLIENT_PREFIXES[0]

# Operations that revoke the access token the test runs with: each example gets a fresh
# login, so the later examples are not all 401s.
REVOKES_TOKEN = {
    ("POST", f"{V3}/logout"),
    ("POST", f"{V3}/logout/all"),
}


def _shape(path: str) -> str:
    """A path template with its parameter names erased: ``/rooms/{}/send/{}/{}``."""
    return re.sub(r"\{[^{}]*\}", "{}", path)


def app_routes() -> list[tuple[str, str]]:
    """(METHOD, path) of every Matrix route of the app, but ``r0`` (the same handlers as
    ``v3``)."""
    app = build_app(make_settings(database_url="sqlite+aiosqlite:///:memory:"))
    routes = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith((CLIENT_PREFIXES[1] + "/", "/_tumar/")):
            continue  # r0 repeats v3; tumar's own APIs have their own schemathesis tests
        for method in getattr(route.original_route, "methods", None) or ():
            routes.add((method, path))
    for path, (method, _handler) in app.state.hot_routes.items():  # api/hot_routes.py
        if not path.startswith(CLIENT_PREFIXES[1] + "/"):
            routes.add((method, path))
    return sorted(routes)


def implemented_operations() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(spec operations tumar routes, tumar routes that are no spec operation)."""
    spec = {(method, _shape(path)): path for method, path in bundle_operations(load_bundle())}
    found: set[tuple[str, str]] = set()
    other: list[tuple[str, str]] = []
    for method, path in app_routes():
        template = spec.get((method, _shape(path)))
        if template is None:
            other.append((method, path))
        else:
            found.add((method, template))
    return sorted(found, key=lambda op: (op[1], op[0])), other


# tumar routes that are not operations of the spec, so schemathesis cannot test them.
NOT_IN_SPEC = {
    # Federation is off: these catch-alls refuse every request (see test_accounts.py).
    *((m, "/_matrix/federation/{rest:path}") for m in ("GET", "POST", "PUT", "DELETE")),
    *((m, "/_matrix/key/{rest:path}") for m in ("GET", "POST", "PUT", "DELETE")),
    # The empty-state-key form; the spec only has .../state/{eventType}/{stateKey}, which
    # schemathesis exercises (with empty keys too).
    ("GET", f"{V3}/rooms/{{room_id}}/state/{{event_type}}"),
    ("PUT", f"{V3}/rooms/{{room_id}}/state/{{event_type}}"),
    # Kept under v3 for older clients; the spec operation is the v1 route, tested here.
    ("GET", f"{V3}/register/m.login.registration_token/validity"),
    # tumar's own web app (tests/web/test_app_serving.py).
    *((m, path) for m in ("GET", "HEAD") for path in ("/", "/static/{relative:path}")),
    # Load balancers and monitoring (tests/api/test_ops.py).
    *(("GET", path) for path in ("/health", "/health/live", "/health/ready", "/metrics")),
}


def with_token_errors(bundle: dict[str, Any]) -> dict[str, Any]:
    """Allow access-token errors where the spec documents 401 only as a UIA challenge.

    On endpoints that need an access token *and* user-interactive auth (``DELETE
    /devices/{deviceId}``, ``POST /delete_devices``) the spec gives the 401 response only the
    UIA schema (``flows`` required), yet the same spec requires a missing or unknown token to
    be answered with 401 ``M_MISSING_TOKEN`` / ``M_UNKNOWN_TOKEN`` in the standard error
    format (as Synapse does). Such a 401 is accepted in either shape.
    """
    token_error = {
        "allOf": [
            bundle["components"]["schemas"]["StandardError"],
            {"properties": {"errcode": {"enum": ["M_MISSING_TOKEN", "M_UNKNOWN_TOKEN"]}}},
        ]
    }
    for method, path in bundle_operations(bundle):
        operation = bundle["paths"][path][method.lower()]
        if not operation.get("security"):
            continue
        media = operation["responses"].get("401", {}).get("content", {}).get("application/json")
        if media and "flows" in media.get("schema", {}).get("required", []):
            media["schema"] = {"anyOf": [media["schema"], token_error]}
    return bundle


OPERATIONS, UNTESTABLE = implemented_operations()
FILTER_UPLOAD = f"POST {V3}/user/{{userId}}/filter"
schema = schemathesis.openapi.from_dict(
    with_token_errors(load_bundle(OPERATIONS)),
    config=schemathesis.Config.from_dict(
        {
            "seed": 20240601,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "operations": [
                {
                    # The Filter schema is large and deeply nested: the coverage phase's
                    # negative cases alone are ~1100 requests (a third of the run), each one
                    # wrong nested field. Its positive coverage cases and the negative fuzzing
                    # cases still run; tests/policy/test_filters.py covers the validation.
                    "include-name": FILTER_UPLOAD,
                    "phases": {"coverage": {"generation": {"mode": "positive"}}},
                }
            ],
        }
    ),
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Overrides the suite's ``backend``: one live server per backend for this module."""
    return str(request.param)


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live tumar shared by all operations of one backend (the suite's ``live_server``
    is per test; starting one per operation would double the run time)."""
    data_dir = tmp_path_factory.mktemp(f"schemathesis-{backend}")
    if backend == "sqlite":
        db_path = data_dir / "tumar.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db_path)
        settings = make_settings(database_url=f"sqlite+aiosqlite:///{db_path}", data_dir=data_dir)
    else:
        pg = request.getfixturevalue("postgres")
        need(pg.ready, pg.error or "PostgreSQL is not available")
        run_sync(pg.reset())
        settings = make_settings(
            database_url=POSTGRES_URL, database_schema=pg.schema, data_dir=data_dir
        )
    live = LiveServer(settings)
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def session(server: LiveServer) -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


_users = itertools.count(1)


@dataclass
class World:
    """The live server, a freshly registered user, a room of theirs and an event in it."""

    server: LiveServer
    session: requests.Session
    user_id: str
    token: str
    device_id: str
    room_id: str
    event_id: str
    media_id: str = ""  # opaque bytes (application/octet-stream) the user uploaded
    image_id: str = ""  # a PNG the user uploaded, for thumbnails

    def login(self) -> str:
        resp = self.session.post(
            f"{self.server.url}{V3}/login",
            json={"type": "m.login.password", "user": self.user_id, "password": PASSWORD},
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])


@pytest.fixture
def world(server: LiveServer, session: requests.Session) -> World:
    base = server.url + V3

    def post(method: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = session.request(method, base + path, json=body, headers=headers, timeout=30)
        resp.raise_for_status()
        return resp.json()

    user = post(
        "POST",
        "/register",
        {
            "username": f"fuzzer{next(_users)}",
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy"},
        },
    )
    token = user["access_token"]
    room_id = post("POST", "/createRoom", {"name": "Fuzz"}, token)["room_id"]
    sent = post(
        "PUT",
        f"/rooms/{q(room_id)}/send/m.room.message/fuzz1",
        {"msgtype": "m.text", "body": "hello"},
        token,
    )

    def upload(data: bytes, content_type: str) -> str:
        resp = session.post(
            f"{server.url}/_matrix/media/v3/upload",
            data=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["content_uri"]).rsplit("/", 1)[1]

    return World(
        server,
        session,
        user["user_id"],
        token,
        user["device_id"],
        room_id,
        sent["event_id"],
        media_id=upload(b"fuzz" * 100, "application/octet-stream"),
        image_id=upload(png_bytes(), "image/png"),
    )


def _realistic(case: Case, world: World) -> Case | None:
    """The case with real ids and credentials swapped in (None: nothing to swap).

    Room, user, event and device ids in the path become the world's (and media ids the
    world user's uploads, a PNG for thumbnails, opaque bytes otherwise); the random credentials
    of ``/login`` and the random UIA stage of ``/register`` become working ones, so their
    success responses are generated and checked too.
    """
    real: dict[str, Any] = {
        "roomId": world.room_id,
        "roomIdOrAlias": world.room_id,
        "userId": world.user_id,
        "eventId": world.event_id,
        "deviceId": world.device_id,
        "serverName": world.server.settings.server_name,
        "mediaId": world.image_id if "/thumbnail/" in case.path else world.media_id,
    }
    params = case.path_parameters or {}
    swapped = {k: real.get(k, v) for k, v in params.items()}
    body, query = case.body, case.query
    if isinstance(body, dict) and case.path == f"{V3}/login":
        ident = {"type": "m.id.user", "user": world.user_id}
        body = {**body, "type": "m.login.password", "identifier": ident, "password": PASSWORD}
    elif isinstance(body, dict) and case.path == f"{V3}/register":
        body = {**body, "auth": {"type": "m.login.dummy"}}
        query = {**(query or {}), "kind": "user"}  # guests are refused
    if swapped == params and body is case.body:
        return None
    derived = case.derive()
    derived.path_parameters = swapped
    derived.body = body
    derived.query = query
    return derived


def _call(case: Case, world: World) -> None:
    token = world.login() if (case.method.upper(), case.path) in REVOKES_TOKEN else world.token
    case.call_and_validate(
        base_url=world.server.url,
        session=world.session,
        headers={"Authorization": f"Bearer {token}"},
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
def test_api(case: Case, world: World) -> None:
    _call(case, world)
    realistic = _realistic(case, world)
    if realistic is not None:
        _call(realistic, world)


def test_operations_covered() -> None:
    """Every route is either a spec operation under test or a known non-spec route."""
    assert set(UNTESTABLE) == NOT_IN_SPEC
    ops = set(OPERATIONS)
    for core in (
        ("POST", f"{V3}/login"),
        ("POST", f"{V3}/createRoom"),
        ("GET", f"{V3}/sync"),
        ("GET", f"{V3}/rooms/{{roomId}}/messages"),
        ("GET", "/_matrix/client/versions"),
        ("GET", "/.well-known/matrix/client"),
        ("GET", "/_matrix/client/v1/register/m.login.registration_token/validity"),
        # everyday features (issue 3)
        ("GET", "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"),
        ("GET", "/_matrix/client/v1/rooms/{roomId}/threads"),
        ("GET", f"{V3}/rooms/{{roomId}}/context/{{eventId}}"),
        ("PUT", f"{V3}/pushrules/global/{{kind}}/{{ruleId}}"),
        ("POST", f"{V3}/pushers/set"),
        ("GET", f"{V3}/notifications"),
        ("PUT", f"{V3}/user/{{userId}}/rooms/{{roomId}}/tags/{{tag}}"),
        ("POST", f"{V3}/rooms/{{roomId}}/report/{{eventId}}"),
        ("GET", f"{V3}/account/3pid"),
        ("POST", f"{V3}/publicRooms"),
        ("PUT", f"{V3}/directory/room/{{roomAlias}}"),
        ("POST", f"{V3}/rooms/{{roomId}}/upgrade"),
        ("PUT", f"{V3}/presence/{{userId}}/status"),
        ("POST", f"{V3}/search"),
    ):
        assert core in ops
    media = {
        (method, path)
        for method, path in bundle_operations(load_bundle())
        if path.startswith(("/_matrix/media/", "/_matrix/client/v1/media/"))
    }
    assert media and media <= ops  # every media operation of the spec, legacy ones included
    e2ee = {
        (method, path)
        for method, path in bundle_operations(load_bundle())
        if path.startswith((f"{V3}/keys/", f"{V3}/room_keys/", f"{V3}/sendToDevice/"))
    }
    assert len(e2ee) >= 20 and e2ee <= ops  # every end-to-end encryption operation
