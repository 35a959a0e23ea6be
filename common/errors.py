"""The one error table: every error a user can act on has a kind, and the kind fixes its exit code (CLI,
jobs) and its HTTP status and OpenAI error type (API), so the interfaces never disagree.

It sits below every other package (graph_store and selector subclass it), and holds nothing else.
Messages name the setting (`replace`, `force`, `adapter`), never one interface's spelling of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    exit_code: int  # 0 ok, 1 failure, 2 bad usage or input, 130 interrupted
    status: int  # HTTP status
    type: str  # OpenAI's error `type`
    code: str | None = None  # OpenAI's error `code` unless the error names its own


KINDS: dict[str, Kind] = {
    "bad_input": Kind(2, 400, "invalid_request_error"),
    "context_length": Kind(2, 400, "invalid_request_error", "context_length_exceeded"),
    "unauthorized": Kind(2, 401, "authentication_error", "invalid_api_key"),
    "forbidden": Kind(2, 403, "permission_error"),
    "not_found": Kind(2, 404, "not_found_error", "not_found"),
    "busy": Kind(2, 409, "conflict_error", "busy"),
    "too_large": Kind(2, 413, "invalid_request_error", "too_large"),
    "overloaded": Kind(1, 503, "service_unavailable", "overloaded"),
    "unavailable": Kind(1, 503, "service_unavailable", "unavailable"),
    "failure": Kind(1, 500, "api_error", "internal_error"),
}
EXIT_INTERRUPTED = 130


class OverlayError(Exception):
    """Base of every error a user can act on; subclasses set `kind`, an instance may name `param`/`code`."""

    kind = "bad_input"

    def __init__(self, message: str = "", *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param, self._code = param, code

    @property
    def message(self) -> str:
        return str(self)

    @property
    def entry(self) -> Kind:
        return KINDS[self.kind]

    @property
    def exit_code(self) -> int:
        return self.entry.exit_code

    @property
    def status(self) -> int:
        return self.entry.status

    @property
    def code(self) -> str | None:
        return self._code or self.entry.code

    def envelope(self) -> dict:
        """OpenAI's error body, for plain responses and SSE error events alike."""
        return {"error": {"message": str(self), "type": self.entry.type, "param": self.param, "code": self.code}}


class BadInput(OverlayError):
    kind = "bad_input"


class NotFound(OverlayError):
    kind = "not_found"


class Busy(OverlayError):
    kind = "busy"


class Unavailable(OverlayError):
    kind = "unavailable"


class ContextLengthExceeded(OverlayError):
    kind = "context_length"


def error_of(kind: str, message: str, param: str | None = None, code: str | None = None) -> OverlayError:
    """An error of a given kind, for interfaces that only know the kind (the API's own checks)."""
    err = OverlayError(message, param=param, code=code)
    err.kind = kind
    return err
