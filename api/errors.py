"""Every error leaves the server in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.

Statuses and types come from the one error table (`common.KINDS`), so the API, the CLI and the job runner
agree on every kind. Clients (the `openai` package among them) map the status to an exception class and
show `message`; so a validation error is a 400 naming the field, never FastAPI's 422, and nothing a
client sends becomes a 500. A streamed response reports an error mid-stream in the same envelope.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common import KINDS, OverlayError

log = logging.getLogger("overlay.api")

_BY_STATUS = {kind.status: name for name, kind in reversed(KINDS.items())}  # the first kind of each status


class APIError(OverlayError):
    """An error found by the HTTP layer itself; its kind follows from the status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code)
        self.kind = _BY_STATUS.get(status, "bad_input")


def error_body(exc: BaseException) -> tuple[int, dict]:
    """(status, envelope) of any exception: the table's for ours, a 500 naming only the type otherwise."""
    if isinstance(exc, OverlayError):
        return exc.status, exc.envelope()
    failure = KINDS["failure"]
    message = f"internal error: {type(exc).__name__}"
    return failure.status, {"error": {"message": message, "type": failure.type, "param": None, "code": failure.code}}


def _envelope(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse(APIError(status, message, param, code).envelope(), status_code=status)


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = first.get("msg", "invalid request")
    if first.get("type") == "json_invalid":
        message, param = "the request body is not valid JSON", None
    elif param:
        message = f"{param}: {message}"
    return _envelope(400, message, param, first.get("type"))


def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return _envelope(exc.status_code, str(exc.detail))


def _ours(_: Request, exc: OverlayError) -> JSONResponse:
    status, body = error_body(exc)
    return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    status, body = error_body(exc)
    return JSONResponse(body, status_code=status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OverlayError, _ours)
    app.add_exception_handler(Exception, _unexpected)
