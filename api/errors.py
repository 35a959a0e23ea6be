"""Every error leaves the server in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.

Clients (the `openai` package among them) map the status to an exception class and show `message`; so a
validation error is a 400 naming the field, never FastAPI's 422, and nothing a client sends becomes a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph_store import GraphStoreError, NotFoundError, WorkspaceBusyError
from overlay import OverlayError, TraceNotFound
from selector import SelectorError

from .jobs import JobNotFound

log = logging.getLogger("overlay.api")

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    503: "service_unavailable",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def envelope(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": TYPES.get(status, "api_error"), "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = first.get("msg", "invalid request")
    if first.get("type") == "json_invalid":
        message, param = "the request body is not valid JSON", None
    elif param:
        message = f"{param}: {message}"
    return envelope(400, message, param, first.get("type"))


def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail))


def _api(_: Request, exc: APIError) -> JSONResponse:
    return envelope(exc.status, exc.message, exc.param, exc.code)


def _library(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TraceNotFound | JobNotFound | NotFoundError):
        return envelope(404, str(exc), code="not_found")
    if isinstance(exc, WorkspaceBusyError):
        return envelope(409, str(exc), code="workspace_busy")
    if isinstance(exc, SelectorError) and "does not fit" in str(exc):
        return envelope(400, str(exc), "messages", "context_length_exceeded")
    return envelope(400, str(exc))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return envelope(500, f"internal error: {type(exc).__name__}", code="internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(APIError, _api)
    for cls in (OverlayError, GraphStoreError, SelectorError):
        app.add_exception_handler(cls, _library)
    app.add_exception_handler(Exception, _unexpected)
