"""`POST /v1/chat/completions`, plain and streamed (server-sent events, as OpenAI sends them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from overlay import Answer, Step

from .errors import error_body
from .links import trace_link
from .schemas import ChatRequest, chunk, completion, overlay_info, usage
from .service import Service, Streamed, now

router = APIRouter()


def _service(request: Request) -> Service:
    return request.app.state.service


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatRequest, request: Request):
    svc = _service(request)
    if not req.stream:
        answer = await run_in_threadpool(svc.answer, req)
        body = completion(answer, svc.model_id, now(), trace_link(svc.api_key, answer.id))
        return JSONResponse(body, headers={"X-Request-Id": answer.id})
    streamed = await run_in_threadpool(svc.stream, req)
    trace_id = streamed.id
    first = await run_in_threadpool(next, streamed.items, None)
    if isinstance(first, Exception):  # bad input found before the first word: a status code, not a stream
        raise first
    return StreamingResponse(
        _events(req, svc.model_id, first, streamed, trace_link(svc.api_key, trace_id)),
        media_type="text/event-stream",
        headers={"X-Request-Id": trace_id, "Cache-Control": "no-cache"},
    )


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters might be the start of a stop string (not sent until that is known)."""
    return max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)


async def _events(
    req: ChatRequest, model: str, first: Step | Answer, streamed: Streamed, trace_url: str
) -> AsyncIterator[str]:
    """The answer's SSE events; a client that goes away cancels the answer (the server stops writing)."""
    try:
        async for event in _chunks(req, model, streamed.id, first, streamed.items, trace_url):
            yield event
    finally:
        streamed.cancel()


async def _chunks(
    req: ChatRequest, model: str, trace_id: str, first: Step | Answer, items: Iterator, trace_url: str
) -> AsyncIterator[str]:
    created, stops = now(), req.stops()
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    extra = {"usage": None} if include_usage else {}

    def event(data: dict) -> str:
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield event(chunk(trace_id, model, created, {"role": "assistant", "content": "", "refusal": None}) | extra)
    text, sent = "", 0

    async def rest() -> AsyncIterator:
        yield first
        async for item in iterate_in_threadpool(items):
            yield item

    async for item in rest():
        if isinstance(item, Step):
            text += item.delta
            found = [text.index(s) for s in stops if s in text]  # the answer ends there (the runtime stops too)
            safe = min(found) if found else len(text) - _held_back(text, stops)
            if safe > sent:
                yield event(chunk(trace_id, model, created, {"content": text[sent:safe]}) | extra)
                sent = safe
        elif isinstance(item, Answer):  # committed: the trace exists before the stream ends
            if len(item.text) > sent:
                yield event(chunk(trace_id, model, created, {"content": item.text[sent:]}) | extra)
            final = chunk(trace_id, model, created, {}, item.finish_reason) | extra
            yield event(final | {"overlay": overlay_info(item, trace_url)})
            if include_usage:
                yield event(
                    {"id": trace_id, "object": "chat.completion.chunk", "created": created, "model": model}
                    | {"choices": [], "usage": usage(item)}
                )
        elif isinstance(item, Exception):  # the envelope a plain request gets for the same error
            yield event(error_body(item)[1])
    yield "data: [DONE]\n\n"
