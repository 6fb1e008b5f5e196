"""Matrix Client-Server API spec support for tests.

The Matrix spec ships its Client-Server API as ~70 separate OpenAPI 3.1 documents (one per
area) that share schemas through relative ``$ref``s into ``definitions/``, the event schemas,
etc.  This module

* bundles them into **one** self-contained OpenAPI 3.1 document (:func:`load_bundle`) whose
  ``paths`` are full request paths (``/_matrix/client/v3/sync``, ...) and in which every
  ``$ref`` is inlined -- except references that are recursive, which become internal
  ``#/components/schemas/...`` references to schemas added to the bundle; and
* validates a server's actual JSON responses against the spec's response schemas
  (:class:`ResponseValidator`).

The spec lives at ``<repo root>/../shared/matrix-spec`` (override with the environment
variable ``TUMAR_MATRIX_SPEC_DIR``, pointing at the directory that contains ``data/``).
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "HTTP_METHODS",
    "SPEC_DIR_ENV",
    "OperationMatch",
    "ResponseValidator",
    "bundle_operations",
    "load_bundle",
    "spec_dir",
]

SPEC_DIR_ENV = "TUMAR_MATRIX_SPEC_DIR"
"""Environment variable overriding the location of the matrix-spec checkout."""

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_CLIENT_SERVER = Path("data", "api", "client-server")
_STANDARD_ERROR = Path("data", "api", "client-server", "definitions", "errors", "error.yaml")

# Keys whose values are literal JSON data rather than schemas / OpenAPI objects.  ``$ref``s in
# there are still resolved (the spec composes examples from example files, see
# openapi_extensions.md), but with plain "siblings override" merge semantics.
_LITERAL_KEYS = frozenset({"example", "examples", "default", "const", "enum"})
# Keys whose values are maps from *names* to schemas / objects; inside them a key such as
# ``default`` or ``example`` is a property / media type / status name, not a keyword.
_NAME_MAP_KEYS = frozenset(
    {
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "paths",
        "responses",
        "content",
        "headers",
        "schemas",
        "parameters",
        "requestBodies",
        "securitySchemes",
        "variables",
        "links",
        "callbacks",
        "encoding",
    }
)
# Keywords that only annotate a schema: a ``$ref`` sibling with one of these overrides the
# target's value instead of being AND-ed with it.
_ANNOTATION_KEYS = frozenset(
    {"title", "description", "summary", "deprecated", "readOnly", "writeOnly", "$comment"}
)

# ``r0`` was renamed to ``v3`` (Matrix 1.1); the spec only documents ``v3``.
_PATH_ALIASES = (
    ("/_matrix/client/r0/", "/_matrix/client/v3/"),
    ("/_matrix/media/r0/", "/_matrix/media/v3/"),
)

_BUNDLE_URI = "urn:tumar:matrix-client-server-bundle"
_COMPONENT_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------------------------
# Locating the spec


def spec_dir() -> Path:
    """Return the root of the matrix-spec checkout (the directory holding ``data/``).

    ``$TUMAR_MATRIX_SPEC_DIR`` wins; otherwise ``<repo root>/../shared/matrix-spec``.
    """
    override = os.environ.get(SPEC_DIR_ENV)
    if override:
        root = Path(override).expanduser().resolve()
        origin = f"${SPEC_DIR_ENV}"
    else:
        # tests/support/matrix_spec.py: parents[2] is the repo root, parents[3] its parent.
        root = Path(__file__).resolve().parents[3] / "shared" / "matrix-spec"
        origin = "the default location <repo root>/../shared/matrix-spec"
    if not (root / _CLIENT_SERVER).is_dir():
        raise FileNotFoundError(
            f"Matrix spec not found: {root / _CLIENT_SERVER} does not exist "
            f"(spec directory taken from {origin}). Put a copy of the matrix-spec repository's "
            f"data files there, or set {SPEC_DIR_ENV} to the directory containing data/."
        )
    return root


# --------------------------------------------------------------------------------------------
# Bundling


def _load_yaml(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # a SafeLoader (C or pure Python)


def _json_pointer_get(document: Any, pointer: str, where: str) -> Any:
    node = document
    if pointer in ("", "/"):
        return node
    for raw in pointer.lstrip("/").split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise KeyError(f"$ref target {where}#{pointer} does not exist") from None
    return node


def _escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _base_path(document: Mapping[str, Any]) -> str:
    """The path part of a document's first server URL, with variables at their defaults."""
    servers = document.get("servers") or [{"url": "/"}]
    server = servers[0]
    url = str(server.get("url", "/"))
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    return urlsplit(url).path.rstrip("/")


_RefKey = tuple[Path, str, bool]


@dataclass
class _Bundler:
    root: Path
    documents: dict[Path, Any] = field(default_factory=dict)
    resolved: dict[_RefKey, Any] = field(default_factory=dict)
    in_progress: set[_RefKey] = field(default_factory=set)
    recursive: dict[tuple[Path, str], str] = field(default_factory=dict)
    component_schemas: dict[str, Any] = field(default_factory=dict)

    def document(self, path: Path) -> Any:
        if path not in self.documents:
            self.documents[path] = _load_yaml(path)
        return self.documents[path]

    def component_name(self, target: Path, pointer: str) -> str:
        existing = self.recursive.get((target, pointer))
        if existing is not None:
            return existing
        try:
            rel = target.relative_to(self.root / "data").with_suffix("")
        except ValueError:
            rel = target.with_suffix("")
        base = _COMPONENT_NAME_UNSAFE.sub("_", ".".join(rel.parts + tuple(pointer.split("/"))))
        base = base.strip("._") or "schema"
        name, counter = base, 1
        taken = set(self.recursive.values())
        while name in taken:
            counter += 1
            name = f"{base}_{counter}"
        self.recursive[(target, pointer)] = name
        return name

    def resolve_ref(self, ref: str, base: Path, literal: bool) -> Any:
        file_part, _, pointer = ref.partition("#")
        target = (base.parent / unquote(file_part)).resolve() if file_part else base
        key: _RefKey = (target, pointer, literal)
        if key in self.resolved:
            return self.resolved[key]
        if key in self.in_progress:
            # Recursive reference: keep it as an internal reference to a component schema.
            name = self.component_name(target, pointer)
            return {"$ref": f"#/components/schemas/{name}"}
        if not target.is_file():
            raise FileNotFoundError(f"$ref {ref!r} in {base} points to missing file {target}")
        node = _json_pointer_get(self.document(target), pointer, str(target))
        self.in_progress.add(key)
        try:
            result = self.walk(node, target, literal=literal, names=False)
        finally:
            self.in_progress.discard(key)
        component = self.recursive.get((target, pointer))
        if component is not None:
            self.component_schemas[component] = result
        self.resolved[key] = result
        return result

    def walk(self, node: Any, base: Path, *, literal: bool, names: bool) -> Any:
        if isinstance(node, list):
            return [self.walk(item, base, literal=literal, names=False) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        is_ref = isinstance(ref, str) and not names
        out: dict[str, Any] = {}
        for raw_key, value in node.items():
            if is_ref and raw_key == "$ref":
                continue
            # YAML turns `x-changedInMatrixVersion: {1.18: ...}` keys into floats.
            key = raw_key if isinstance(raw_key, str) else str(raw_key)
            keyword = not names and not literal
            if keyword and key == "$schema":
                continue  # every schema in the spec is 2020-12, the bundle's dialect anyway
            out[key] = self.walk(
                value,
                base,
                literal=literal or (keyword and key in _LITERAL_KEYS),
                names=keyword and key in _NAME_MAP_KEYS,
            )
        if is_ref:
            target = self.resolve_ref(str(ref), base, literal)
            return _merge_ref_siblings(target, out, literal=literal, where=f"{base}: {ref}")
        return out


def _merge_ref_siblings(target: Any, siblings: dict[str, Any], *, literal: bool, where: str) -> Any:
    if not siblings:
        return target
    if not isinstance(target, dict):
        raise ValueError(f"$ref with sibling keys points at a non-object ({where})")
    if literal:
        # Example composition: the referencing example overrides the referenced one.
        return {**target, **siblings}
    conflicts = [
        key
        for key, value in siblings.items()
        if key in target
        and target[key] != value
        and key not in _ANNOTATION_KEYS
        and not key.startswith("x-")
    ]
    if not conflicts:
        return {**target, **siblings}
    # Real constraints next to a $ref: JSON Schema 2020-12 applies both.
    return {"allOf": [target, siblings]}


def _build_bundle(root: Path) -> dict[str, Any]:
    bundler = _Bundler(root)
    paths: dict[str, dict[str, Any]] = {}
    path_sources: dict[tuple[str, str], Path] = {}
    security_schemes: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    documents = sorted((root / _CLIENT_SERVER).glob("*.yaml"))
    if not documents:
        raise FileNotFoundError(f"no OpenAPI documents in {root / _CLIENT_SERVER}")
    for doc_path in documents:
        document = bundler.document(doc_path.resolve())
        base_path = _base_path(document)
        for template, item in (document.get("paths") or {}).items():
            full = base_path + str(template)
            resolved = bundler.walk(item, doc_path.resolve(), literal=False, names=False)
            merged = paths.setdefault(full, {})
            for key, value in resolved.items():
                if key in merged and merged[key] != value:
                    raise ValueError(
                        f"{full} {key!r} is defined by both {path_sources[(full, key)].name} "
                        f"and {doc_path.name}"
                    )
                merged[key] = value
                path_sources[(full, key)] = doc_path
        components = document.get("components") or {}
        schemes = bundler.walk(
            components.get("securitySchemes") or {},
            doc_path.resolve(),
            literal=False,
            names=True,
        )
        for name, scheme in schemes.items():
            if security_schemes.setdefault(name, scheme) != scheme:
                raise ValueError(f"conflicting security scheme {name!r} in {doc_path.name}")
        for tag in document.get("tags") or []:
            tags.setdefault(str(tag.get("name")), tag)

    bundle: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Matrix Client-Server API (bundled for tumar tests)",
            "version": "unstable",
            "description": f"Bundled from {len(documents)} documents in {root / _CLIENT_SERVER}.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": security_schemes,
            "schemas": dict(sorted(bundler.component_schemas.items())),
        },
    }
    if tags:
        bundle["tags"] = list(tags.values())
    # Standard error schema, used for error statuses an operation does not list.
    bundle["components"]["schemas"]["StandardError"] = bundler.resolve_ref(
        _STANDARD_ERROR.name, (root / _STANDARD_ERROR).resolve(), False
    )
    return bundle


@functools.lru_cache(maxsize=4)
def _cached_bundle(root: str) -> dict[str, Any]:
    return _build_bundle(Path(root))


def bundle_operations(bundle: Mapping[str, Any]) -> list[tuple[str, str]]:
    """All ``(METHOD, full path template)`` pairs of a bundle, sorted."""
    return sorted(
        (method.upper(), path)
        for path, item in bundle.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    )


def load_bundle(operations: Iterable[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The Client-Server API as one self-contained OpenAPI 3.1 document.

    Paths are full paths (``/_matrix/client/v3/sync``).  With ``operations`` -- pairs
    ``(METHOD, full path template)`` such as ``("GET", "/_matrix/client/v3/sync")`` -- only
    those operations are kept; unknown pairs raise :class:`KeyError`.

    Parsing is cached; every call returns a fresh deep copy, so callers may mutate it.
    """
    full = _cached_bundle(str(spec_dir()))
    if operations is None:
        return copy.deepcopy(full)
    wanted: dict[str, set[str]] = {}
    for method, path in operations:
        wanted.setdefault(path, set()).add(method.lower())
    missing = [
        f"{method.upper()} {path}"
        for path, methods in wanted.items()
        for method in sorted(methods)
        if method not in full["paths"].get(path, {})
    ]
    if missing:
        raise KeyError(f"not in the Matrix spec: {', '.join(missing)}")
    selected: dict[str, Any] = {}
    for path, methods in wanted.items():
        item = full["paths"][path]
        # keep path-level keys (parameters, summary, ...) plus the wanted operations
        selected[path] = {
            key: value for key, value in item.items() if key not in HTTP_METHODS or key in methods
        }
    bundle = {key: value for key, value in full.items() if key != "paths"}
    bundle["paths"] = dict(sorted(selected.items()))
    return copy.deepcopy(bundle)


# --------------------------------------------------------------------------------------------
# Response validation


@dataclass(frozen=True)
class OperationMatch:
    """The spec operation a concrete request path resolved to."""

    method: str  # upper case
    template: str  # full path template, e.g. /_matrix/client/v3/rooms/{roomId}/messages
    params: dict[str, str]  # path parameters, percent-decoded


@dataclass(frozen=True)
class _Route:
    template: str
    segments: tuple[str | None, ...]  # literal segment, or None for a {param} segment
    param_names: tuple[str, ...]
    methods: frozenset[str]

    @property
    def specificity(self) -> tuple[int, ...]:
        # literal segments beat parameters, leftmost first (OpenAPI: concrete paths win)
        return tuple(0 if seg is not None else 1 for seg in self.segments)


_PARAM_SEGMENT = re.compile(r"^\{([^{}]+)\}$")


def _split_path(path: str) -> list[str]:
    return path.split("/")[1:] if path.startswith("/") else path.split("/")


def _normalise_concrete_path(concrete_path: str) -> str:
    path = urlsplit(concrete_path).path if "://" in concrete_path else concrete_path
    path = path.split("?", 1)[0].split("#", 1)[0]
    for old, new in _PATH_ALIASES:
        if path.startswith(old):
            path = new + path[len(old) :]
    return path


def _error_lines(errors: Iterable[ValidationError]) -> Iterator[str]:
    for error in sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        validator = str(error.validator)
        yield f"  - at {error.json_path}: {error.message}  [{validator}]"
        if error.context:
            closest = best_match(error.context)
            yield f"      closest {validator} branch, at {closest.json_path}: {closest.message}"


class ResponseValidator:
    """Validate actual responses against the spec's response schemas.

    Path matching: the concrete path (query string, scheme and host are ignored; ``r0`` is
    mapped to ``v3``) is split on ``/`` *before* percent-decoding, so encoded room ids, event
    types or state keys containing ``%2F`` stay one segment.  A template matches when it has
    the same number of segments and all literal segments are equal; parameter segments match
    anything non-empty (the last one may be empty, e.g. an empty state key).  Among matching
    templates, those with literal segments further left win; the first that defines the
    method is used.  A path without a trailing slash is also tried with one appended, so
    ``GET .../state/m.room.name`` finds ``.../state/{eventType}/{stateKey}``.

    Response selection: the exact status code, then ``NXX``, then ``default``.  Error statuses
    (>= 400) the operation does not document are checked against the standard Matrix error
    schema; other undocumented statuses fail.  Responses the spec describes without a JSON
    body (redirects, media downloads) are not checked.  ``format`` is not enforced.
    """

    def __init__(self, bundle: Mapping[str, Any] | None = None) -> None:
        self._bundle: Mapping[str, Any] = (
            bundle if bundle is not None else _cached_bundle(str(spec_dir()))
        )
        routes: list[_Route] = []
        for template, item in self._bundle.get("paths", {}).items():
            segments: list[str | None] = []
            names: list[str] = []
            for segment in _split_path(template):
                param = _PARAM_SEGMENT.match(segment)
                if param:
                    segments.append(None)
                    names.append(param.group(1))
                elif "{" in segment:
                    raise ValueError(f"unsupported partial path parameter in {template}")
                else:
                    segments.append(segment)
            methods = frozenset(m.upper() for m in item if m in HTTP_METHODS)
            routes.append(_Route(template, tuple(segments), tuple(names), methods))
        routes.sort(key=lambda r: (r.specificity, r.template))
        self._routes = routes
        resource = Resource.from_contents(dict(self._bundle), default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_BUNDLE_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    # -- matching ------------------------------------------------------------------------

    def _candidates(self, segments: list[str]) -> list[tuple[_Route, dict[str, str]]]:
        found = []
        last = len(segments) - 1
        for route in self._routes:
            if len(route.segments) != len(segments):
                continue
            params: dict[str, str] = {}
            names = iter(route.param_names)
            for index, (expected, raw) in enumerate(zip(route.segments, segments, strict=True)):
                value = unquote(raw)
                if expected is None:
                    if value == "" and index != last:
                        break
                    params[next(names)] = value
                elif value != expected:
                    break
            else:
                found.append((route, params))
        return found

    def match(self, method: str, concrete_path: str) -> OperationMatch:
        """Find the spec operation for a concrete request; AssertionError if there is none."""
        method = method.upper()
        path = _normalise_concrete_path(concrete_path)
        attempts = [path] if path.endswith("/") else [path, path + "/"]
        path_matches: list[str] = []
        for attempt in attempts:
            for route, params in self._candidates(_split_path(attempt)):
                if method in route.methods:
                    return OperationMatch(method, route.template, params)
                path_matches.append(f"{route.template} ({', '.join(sorted(route.methods))})")
        detail = f"; the path matches only {', '.join(path_matches)}" if path_matches else ""
        raise AssertionError(f"no spec operation for {method} {concrete_path}{detail}")

    # -- schemas -------------------------------------------------------------------------

    def _pick_response(
        self, op: OperationMatch, status: int
    ) -> tuple[str | None, Mapping[str, Any] | None]:
        operation = self._bundle["paths"][op.template][op.method.lower()]
        responses: Mapping[str, Any] = operation.get("responses") or {}
        for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
            if key in responses:
                return key, responses[key]
        return None, None

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            ref = f"{_BUNDLE_URI}#{quote(pointer, safe='/~')}"
            validator = Draft202012Validator({"$ref": ref}, registry=self._registry)
            self._validators[pointer] = validator
        return validator

    def schema_pointer(self, method: str, concrete_path: str, status: int) -> str | None:
        """JSON pointer (into the bundle) of the response schema, None if there is no body."""
        op = self.match(method, concrete_path)
        key, response = self._pick_response(op, status)
        if response is None:
            if status >= 400:
                return "/components/schemas/StandardError"
            documented = ", ".join(
                self._bundle["paths"][op.template][op.method.lower()].get("responses") or {}
            )
            raise AssertionError(
                f"{op.method} {concrete_path}: status {status} is not documented for "
                f"{op.method} {op.template} (documented: {documented or 'none'})"
            )
        content: Mapping[str, Any] = response.get("content") or {}
        media_types = [m for m in content if m == "application/json" or m.endswith("+json")]
        if not media_types or "schema" not in content[media_types[0]]:
            return None
        tokens = [
            "paths",
            op.template,
            op.method.lower(),
            "responses",
            str(key),
            "content",
            media_types[0],
            "schema",
        ]
        return "/" + "/".join(_escape_pointer_token(t) for t in tokens)

    def validate(self, method: str, concrete_path: str, status: int, body: Any) -> None:
        """Raise AssertionError listing every schema violation of ``body``."""
        pointer = self.schema_pointer(method, concrete_path, status)
        if pointer is None:
            return
        errors = list(self._validator(pointer).iter_errors(body))
        if not errors:
            return
        op = self.match(method, concrete_path)
        lines = "\n".join(_error_lines(errors))
        raise AssertionError(
            f"{op.method} {concrete_path} -> {status}: response does not match the spec "
            f"schema of {op.method} {op.template} ({len(errors)} error(s), schema at "
            f"#{pointer}):\n{lines}"
        )
