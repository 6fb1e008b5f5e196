"""Tests of the Matrix spec bundling / response validation test support."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from . import matrix_spec
from .matrix_spec import ResponseValidator, bundle_operations, load_bundle, spec_dir

SYNC = ("GET", "/_matrix/client/v3/sync")
LOGIN = ("POST", "/_matrix/client/v3/login")
CREATE_ROOM = ("POST", "/_matrix/client/v3/createRoom")
MESSAGES = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
KEPT = [SYNC, LOGIN, CREATE_ROOM, MESSAGES]

LOGIN_PATH = "/_matrix/client/v3/login"
SYNC_PATH = "/_matrix/client/v3/sync"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _json_schemas(bundle: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method, path in bundle_operations(bundle):
        operation = bundle["paths"][path][method.lower()]
        bodies = [("request", operation.get("requestBody") or {})]
        bodies += [(f"response {code}", r) for code, r in operation["responses"].items()]
        for label, body in bodies:
            for media_type, media in (body.get("content") or {}).items():
                if "schema" in media:
                    yield f"{method} {path} {label} {media_type}", media["schema"]
        for parameter in operation.get("parameters", []):
            if "schema" in parameter:
                yield f"{method} {path} parameter {parameter['name']}", parameter["schema"]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return load_bundle()


@pytest.fixture(scope="module")
def validator() -> ResponseValidator:
    return ResponseValidator()


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "$ev1:localhost",
        "type": "m.room.message",
        "sender": "@alice:localhost",
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": "hello"},
    }
    event.update(overrides)
    return event


def _sync_body(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "next_batch": "s2",
        "rooms": {
            "join": {
                "!abc:localhost": {
                    "timeline": {"events": [event], "limited": False, "prev_batch": "p1"},
                    "state": {"events": []},
                    "account_data": {"events": []},
                    "ephemeral": {"events": []},
                    "unread_notifications": {"highlight_count": 0, "notification_count": 0},
                }
            }
        },
        "account_data": {"events": []},
        "presence": {"events": []},
    }


# -- locating the spec ---------------------------------------------------------------------


def test_spec_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(matrix_spec.SPEC_DIR_ENV, raising=False)
    default = spec_dir()
    assert default == Path(matrix_spec.__file__).resolve().parents[3] / "shared" / "matrix-spec"
    assert (default / "data" / "api" / "client-server" / "sync.yaml").is_file()

    monkeypatch.setenv(matrix_spec.SPEC_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=matrix_spec.SPEC_DIR_ENV):
        spec_dir()


# -- the bundle ----------------------------------------------------------------------------


def test_bundle_is_self_contained(bundle: dict[str, Any]) -> None:
    assert bundle["openapi"] == "3.1.0"
    schemas = bundle["components"]["schemas"]
    for ref in _refs(bundle):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_bundle_paths_are_full_paths(bundle: dict[str, Any]) -> None:
    paths = bundle["paths"]
    prefixes = ("/_matrix/client/v3/", "/_matrix/client/v1/", "/_matrix/media/", "/.well-known/")
    assert all(p.startswith(prefixes) or p == "/_matrix/client/versions" for p in paths), [
        p for p in paths if not p.startswith(prefixes)
    ]
    assert "/_matrix/client/versions" in paths
    assert "/.well-known/matrix/client" in paths
    assert "/_matrix/client/v1/media/download/{serverName}/{mediaId}" in paths
    # defined in two documents (rooms.yaml: GET, room_state.yaml: PUT) -> merged
    state = paths["/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"]
    assert {"get", "put"} <= set(state)
    assert len(bundle_operations(bundle)) > 150


@pytest.mark.parametrize(("method", "path"), KEPT)
def test_core_operations_have_200_schemas(bundle: dict[str, Any], method: str, path: str) -> None:
    schema = bundle["paths"][path][method.lower()]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert schema["type"] == "object"
    assert schema.get("properties")
    Draft202012Validator.check_schema(schema)


def test_bundle_keeps_examples_and_extensions(bundle: dict[str, Any]) -> None:
    login = bundle["paths"][LOGIN_PATH]["post"]
    assert login["responses"]["200"]["content"]["application/json"]["examples"]
    flows = bundle["paths"][LOGIN_PATH]["get"]["responses"]["200"]["content"]
    flow = flows["application/json"]["schema"]["properties"]["flows"]["items"]
    assert flow["properties"]["get_login_token"]["x-addedInMatrixVersion"] == "1.7"
    # `$ref`s inside examples (the spec's example composition) are resolved too
    messages = bundle["paths"][MESSAGES[1]]["get"]["responses"]["200"]["content"]
    chunk = messages["application/json"]["examples"]["response"]["value"]["chunk"]
    assert chunk[0]["room_id"] and chunk[0]["event_id"] and chunk[0]["content"]


def test_all_schemas_compile(bundle: dict[str, Any]) -> None:
    failures = []
    for label, schema in _json_schemas(bundle):
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(f"{label}: {exc}")
    assert not failures, "\n".join(failures)


def test_spec_examples_validate(bundle: dict[str, Any], validator: ResponseValidator) -> None:
    checked = 0
    for method, path in bundle_operations(bundle):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for code, response in bundle["paths"][path][method.lower()]["responses"].items():
            media = (response.get("content") or {}).get("application/json") or {}
            examples = [e["value"] for e in (media.get("examples") or {}).values()]
            for example in examples:
                validator.validate(method, concrete, int(code), example)
                checked += 1
    assert checked > 250


def test_load_bundle_filters_operations() -> None:
    small = load_bundle(KEPT)
    assert bundle_operations(small) == sorted(KEPT)
    assert small["components"]["securitySchemes"]
    # lower-case methods are accepted; results are independent copies
    again = load_bundle([("get", SYNC[1])])
    again["paths"].clear()
    assert bundle_operations(load_bundle([SYNC])) == [SYNC]
    with pytest.raises(KeyError, match="GET /_matrix/client/v3/nope"):
        load_bundle([("GET", "/_matrix/client/v3/nope")])


def test_load_bundle_in_schemathesis() -> None:
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(load_bundle(KEPT))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert sorted((op.method.upper(), op.path) for op in operations) == sorted(KEPT)
    assert {op.label for op in operations} == {f"{m} {p}" for m, p in KEPT}


# -- recursive references (the real spec has none today) -------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_recursive_refs_become_component_schemas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cs = tmp_path / "data" / "api" / "client-server"
    _write(
        cs / "definitions" / "errors" / "error.yaml",
        """
        type: object
        properties:
          errcode: {type: string}
        required: [errcode]
        """,
    )
    _write(
        cs / "definitions" / "node.yaml",
        """
        type: object
        properties:
          name: {type: string}
          children:
            type: array
            items:
              $ref: node.yaml
        required: [name]
        """,
    )
    _write(
        cs / "tree.yaml",
        """
        openapi: 3.1.0
        info: {title: t, version: "1"}
        servers:
          - url: "{protocol}://{hostname}{basePath}"
            variables:
              protocol: {default: https}
              hostname: {default: localhost}
              basePath: {default: /_matrix/client/v3}
        paths:
          /tree:
            get:
              responses:
                "200":
                  description: ok
                  content:
                    application/json:
                      schema:
                        $ref: definitions/node.yaml
        """,
    )
    monkeypatch.setenv(matrix_spec.SPEC_DIR_ENV, str(tmp_path))
    bundle = load_bundle()
    components = bundle["components"]["schemas"]
    refs = set(_refs(bundle))
    assert len(refs) == 1
    (ref,) = refs
    name = ref.removeprefix("#/components/schemas/")
    assert components[name]["properties"]["children"]["items"] == {"$ref": ref}

    tree = ResponseValidator(bundle)
    good = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
    tree.validate("GET", "/_matrix/client/v3/tree", 200, good)
    bad = {"name": "a", "children": [{"name": "b", "children": [{"children": []}]}]}
    with pytest.raises(AssertionError, match=re.escape("$.children[0].children[0]")):
        tree.validate("GET", "/_matrix/client/v3/tree", 200, bad)


# -- path matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/_matrix/client/v3/rooms/!abc:localhost/messages",
        "/_matrix/client/v3/rooms/%21abc%3Alocalhost/messages",
        "/_matrix/client/r0/rooms/%21abc%3Alocalhost/messages",
        "https://tumar.example/_matrix/client/v3/rooms/!abc:localhost/messages?dir=b&limit=5",
    ],
)
def test_match_encoded_room_ids(validator: ResponseValidator, path: str) -> None:
    match = validator.match("get", path)
    assert (match.method, match.template) == MESSAGES
    assert match.params == {"roomId": "!abc:localhost"}


def test_match_prefers_literal_segments(validator: ResponseValidator) -> None:
    # literal template wins over /rooms/{roomId}/state/{eventType}/{stateKey} etc.
    assert validator.match("GET", "/_matrix/client/v3/rooms/!a:h/state").template == (
        "/_matrix/client/v3/rooms/{roomId}/state"
    )
    # encoded slash stays inside one segment; empty state key with and without slash
    template = "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
    match = validator.match("GET", "/_matrix/client/v3/rooms/!a:h/state/m.room.name/a%2Fb")
    assert match.template == template
    assert match.params["stateKey"] == "a/b"
    for path in (
        "/_matrix/client/v3/rooms/!a:h/state/m.room.name/",
        "/_matrix/client/v3/rooms/!a:h/state/m.room.name",
    ):
        match = validator.match("PUT", path)
        assert match.template == template
        assert match.params == {"roomId": "!a:h", "eventType": "m.room.name", "stateKey": ""}


def test_unknown_paths_and_methods(validator: ResponseValidator) -> None:
    with pytest.raises(AssertionError, match="no spec operation for GET /_matrix/client/v3/nope"):
        validator.validate("GET", "/_matrix/client/v3/nope", 200, {})
    with pytest.raises(AssertionError, match="no spec operation for DELETE"):
        validator.match("DELETE", SYNC_PATH)
    with pytest.raises(AssertionError, match="no spec operation"):
        validator.match("GET", "/_matrix/client/v3/rooms//messages")


# -- response validation ---------------------------------------------------------------------


def test_login_response(validator: ResponseValidator) -> None:
    good = {"user_id": "@a:h", "access_token": "x", "device_id": "D"}
    validator.validate("POST", LOGIN_PATH, 200, good)
    validator.validate("POST", "/_matrix/client/r0/login", 200, good)

    missing = {"user_id": "@a:h", "device_id": "D"}
    with pytest.raises(AssertionError, match="'access_token' is a required property"):
        validator.validate("POST", LOGIN_PATH, 200, missing)

    with pytest.raises(AssertionError) as info:
        validator.validate("POST", LOGIN_PATH, 200, {**good, "user_id": 42})
    assert "$.user_id: 42 is not of type 'string'" in str(info.value)

    with pytest.raises(AssertionError) as info:
        validator.validate("POST", LOGIN_PATH, 200, {"user_id": 42})
    message = str(info.value)
    assert "3 error(s)" in message
    assert "at $: 'access_token' is a required property" in message
    assert "at $.user_id:" in message


def test_error_responses(validator: ResponseValidator) -> None:
    error = {"errcode": "M_FORBIDDEN", "error": "Invalid password"}
    validator.validate("POST", LOGIN_PATH, 403, error)
    # undocumented error statuses fall back to the standard error schema
    validator.validate("POST", LOGIN_PATH, 500, {"errcode": "M_UNKNOWN", "error": "boom"})
    with pytest.raises(AssertionError, match="'errcode' is a required property"):
        validator.validate("POST", LOGIN_PATH, 500, {"error": "boom"})
    # undocumented success statuses are errors
    with pytest.raises(AssertionError, match="status 201 is not documented"):
        validator.validate("POST", LOGIN_PATH, 201, {})


def test_sync_response(validator: ResponseValidator) -> None:
    validator.validate("GET", SYNC_PATH, 200, {"next_batch": "s1"})
    validator.validate("GET", SYNC_PATH + "?since=s1&timeout=0", 200, _sync_body(_event()))

    event = _event()
    del event["event_id"]
    with pytest.raises(AssertionError) as info:
        validator.validate("GET", SYNC_PATH, 200, _sync_body(event))
    message = str(info.value)
    assert "'event_id' is a required property" in message
    assert "$.rooms.join['!abc:localhost'].timeline.events[0]" in message


def test_messages_and_create_room_responses(validator: ResponseValidator) -> None:
    path = "/_matrix/client/v3/rooms/%21abc%3Alocalhost/messages"
    body = {"start": "t1", "end": "t2", "chunk": [_event(room_id="!abc:localhost")]}
    validator.validate("GET", path, 200, body)
    with pytest.raises(AssertionError, match=r"\$\.chunk\[0\]\.origin_server_ts"):
        bad_event = _event(room_id="!abc:localhost", origin_server_ts="yesterday")
        validator.validate("GET", path, 200, {**body, "chunk": [bad_event]})

    validator.validate("POST", CREATE_ROOM[1], 200, {"room_id": "!new:localhost"})
    with pytest.raises(AssertionError, match="'room_id' is a required property"):
        validator.validate("POST", CREATE_ROOM[1], 200, {})


def test_formats_are_not_enforced(validator: ResponseValidator) -> None:
    # /profile's avatar_url has `format: mx-mxc-uri`; formats are annotations only here
    path = "/_matrix/client/v3/profile/@a:h"
    validator.validate("GET", path, 200, {"avatar_url": "not an mxc uri", "displayname": "A"})


def test_non_json_responses_are_skipped(validator: ResponseValidator) -> None:
    path = "/_matrix/client/v1/media/download/localhost/abc"
    assert validator.schema_pointer("GET", path, 200) is None
    validator.validate("GET", path, 200, b"\x89PNG")


def test_ref_sibling_merging() -> None:
    merge = matrix_spec._merge_ref_siblings
    target = {"type": "object", "title": "Event", "properties": {"a": {"type": "string"}}}
    # annotations and equal keywords are merged flat, siblings win
    flat = merge(target, {"title": "Other", "type": "object"}, literal=False, where="t")
    assert flat == {**target, "title": "Other"}
    # conflicting constraints keep JSON Schema semantics (both apply)
    both = merge(target, {"type": "array"}, literal=False, where="t")
    assert both == {"allOf": [target, {"type": "array"}]}
    # example composition: plain override
    assert merge({"a": 1, "b": 2}, {"b": 3}, literal=True, where="t") == {"a": 1, "b": 3}
