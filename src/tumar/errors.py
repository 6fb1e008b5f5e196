"""One error hierarchy for the whole server, mapped to Matrix ``errcode``s.

Routes and services raise these; the HTTP layer turns them into ``{errcode, error}`` bodies.
Government features add namespaced codes (``TUMAR_...``) as subclasses or instances.
"""

from __future__ import annotations

from typing import Any


class MatrixError(Exception):
    """An error a client is meant to see: HTTP status, ``errcode`` and a readable message."""

    def __init__(self, status: int, errcode: str, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.errcode = errcode
        self.error = error
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "error": self.error, **self.extra}

    def __repr__(self) -> str:
        return f"MatrixError({self.status}, {self.errcode!r}, {self.error!r})"


class PolicyDenied(MatrixError):
    """A refusal by the classification policy chain (labels, audience, DLP). The core binds
    who was refused, where and doing what (:meth:`bind`); the HTTP layer then records it as
    ``denied.<action>`` in the audit log, in its own transaction after the refused one has
    rolled back."""

    def __init__(self, status: int, errcode: str, error: str) -> None:
        super().__init__(status, errcode, error)
        self.actor: str | None = None
        self.room_id: str | None = None
        self.action = "send"

    def bind(self, actor: str, room_id: str, action: str) -> PolicyDenied:
        if self.actor is None:
            self.actor, self.room_id, self.action = actor, room_id, action
        return self


def forbidden(error: str) -> MatrixError:
    return MatrixError(403, "M_FORBIDDEN", error)


def not_found(error: str) -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", error)


def bad_json(error: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", error)


def invalid_param(error: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", error)


def missing_param(error: str) -> MatrixError:
    return MatrixError(400, "M_MISSING_PARAM", error)


def unrecognized(error: str = "Unrecognized request", status: int = 404) -> MatrixError:
    return MatrixError(status, "M_UNRECOGNIZED", error)


def user_locked() -> MatrixError:
    """A suspended account (Matrix "account locking"): 401 with ``soft_logout`` so clients
    keep their session and carry on once the account is restored."""
    return MatrixError(
        401,
        "M_USER_LOCKED",
        "This account is suspended; ask your administrator.",
        soft_logout=True,
    )


def limit_exceeded(retry_after_ms: int) -> MatrixError:
    return MatrixError(
        429, "M_LIMIT_EXCEEDED", "Too many requests; slow down.", retry_after_ms=retry_after_ms
    )


class AuthRequired(MatrixError):
    """A user-interactive authentication challenge: 401 with the flows to complete."""

    def __init__(self, flows: list[list[str]], session: str, error: str | None = None) -> None:
        super().__init__(401, "M_FORBIDDEN", error or "Additional authentication is required.")
        self.flows = flows
        self.session = session
        self.failed = error is not None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "flows": [{"stages": f} for f in self.flows],
            "params": {},
            "session": self.session,
        }
        if self.failed:
            body.update(errcode=self.errcode, error=self.error)
        return body
