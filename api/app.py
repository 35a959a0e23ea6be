"""The FastAPI app: routes, the API key, and the one Service that owns the model and the workspace."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from common import BadInput
from graph_store import DIRECTIONS, ROW_RELATIONS, NotFoundError, default_direction
from overlay import record_feedback

from . import errors
from .chat import router as chat_router
from .errors import APIError
from .jobs import UPLOAD_SUFFIXES
from .links import signed, trace_link
from .page import trace_list_page, trace_page
from .schemas import EdgeRequest, FactRequest, FeedbackRequest
from .service import Service, now


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # every held completion waits in a worker thread: room for the queue, and for the other routes beside it
        limiter = to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, service.server.queue + 8)
        yield
        service.close()

    app = FastAPI(title="Overlay", version="0.1", lifespan=lifespan, dependencies=[Depends(_read_access)])
    app.state.service = service
    errors.install(app)
    app.include_router(chat_router)
    app.include_router(router)
    return app


def _svc(request: Request) -> Service:
    return request.app.state.service


def _key_given(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


SIGNED_ROUTES = {"/traces/{trace_id}"}  # what a signed link opens (api/links.py): the one page it names


def _read_access(request: Request) -> None:
    """With a key configured, every endpoint but /health needs it, and a trace's page opens with its signed
    link too (a browser sends no bearer header); without a key, reads are open."""
    key = _svc(request).api_key
    if not key or request.url.path == "/health":
        return
    given = _key_given(request)
    if given and secrets.compare_digest(given.encode(), key.encode()):
        return
    route = getattr(request.scope.get("route"), "path", None)
    if route in SIGNED_ROUTES:
        if signed(key, request.path_params["trace_id"], request.query_params.get("sig")):
            return
        raise APIError(
            401,
            "missing or invalid link signature: open the page by the `overlay.trace_url` its completion returned "
            "(or send `Authorization: Bearer KEY`)",
            code="invalid_api_key",
        )
    raise APIError(401, "missing or invalid API key (send `Authorization: Bearer KEY`)", code="invalid_api_key")


def write_access(request: Request) -> None:
    """Writes change the graph: they need a configured key (checked by `_read_access` on every route)."""
    if not _svc(request).api_key:
        raise APIError(
            403,
            "write endpoints are disabled: start the server with OVERLAY_API_KEY set and send it as a bearer token",
            code="writes_disabled",
        )


router = APIRouter()
Svc = Annotated[Service, Depends(_svc)]


@router.get("/health")
def health(svc: Svc) -> dict:
    held = {"held": svc.admission.held, "limit": svc.admission.limit}  # completions answering or waiting
    return {"status": "ok", "model": svc.model_id, "snapshot_version": svc.runtime.snap.version, "queue": held}


@router.get("/v1/models")
def models(svc: Svc) -> dict:
    return {"object": "list", "data": [_model(svc, m) for m in svc.model_ids]}


@router.get("/v1/models/{model_id:path}")
def model(model_id: str, svc: Svc) -> dict:
    if model_id not in svc.model_ids:
        raise APIError(404, f"the model {model_id!r} does not exist", "model", "model_not_found")
    return _model(svc, model_id)


def _model(svc: Service, model_id: str) -> dict:
    adapter = svc.backend.adapter if model_id != svc.backend.model_id else None
    extra = {} if adapter is None else {"adapter": adapter.name, "verified": adapter.verified}
    return {"id": model_id, "object": "model", "created": now(), "owned_by": "overlay", **extra}


# ------------------------------------------------------------------ traces


@router.get("/v1/traces")
async def traces(svc: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> dict:
    return {"object": "list", "data": await run_in_threadpool(svc.traces.list, limit)}


@router.get("/v1/traces/{trace_id}")
async def trace(trace_id: str, svc: Svc) -> dict:
    return await run_in_threadpool(svc.traces.get, trace_id)


@router.get("/traces", response_class=HTMLResponse)
async def traces_html(svc: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> str:
    rows = await run_in_threadpool(svc.traces.list, limit)
    return trace_list_page(rows, lambda trace_id: trace_link(svc.api_key, trace_id))


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
async def trace_html(trace_id: str, svc: Svc) -> str:
    """The explanation page. On a keyed server it opens with the bearer key or with the signed link its
    completion returned (`overlay.trace_url`, `?sig=`), which a browser can follow."""
    trace = await run_in_threadpool(svc.traces.get, trace_id)
    return trace_page(trace, svc.runtime.snap)


# ------------------------------------------------------------------ graph (the served snapshot)


@router.get("/v1/graph/stats")
def graph_stats(svc: Svc) -> dict:
    m = svc.runtime.snap.manifest
    return {"snapshot_version": m.version, "created_at": m.created_at, "counts": m.counts}


@router.get("/v1/graph/nodes/{word}")
def graph_node(word: str, svc: Svc) -> dict:
    snap = svc.runtime.snap
    node_id = snap.word_id(word)
    if node_id is None:
        node_id = snap.concept_id(word)
    if node_id is None:
        raise NotFoundError(f"no node {word!r} in snapshot v{snap.version}")
    node = snap.node(node_id)
    return {
        "id": node.id,
        "key": node.key,
        "surface": node.surface,
        "kind": node.kind,
        "count": node.count,
        "degree": {rel: len(snap.successor_arrays(rel, node.id)[0]) for rel in ROW_RELATIONS},
    }


@router.get("/v1/graph/nodes/{word}/neighbors")
def graph_neighbors(
    word: str,
    svc: Svc,
    rel: Annotated[Literal[ROW_RELATIONS] | None, Query()] = None,  # type: ignore[valid-type]
    top: Annotated[int, Query(ge=1, le=500)] = 10,
    direction: Annotated[
        Literal[DIRECTIONS] | None,  # type: ignore[valid-type]
        Query(description="out, in (backlinks) or both: for links (default both); other relations go out"),
    ] = None,
) -> dict:
    snap = svc.runtime.snap
    node = graph_node(word, svc)
    if direction == "in" and rel != "link":
        raise BadInput("direction 'in' is for links: add rel=link", param="direction")
    # a word and the note (concept) of the same name are one name to a user: ask both
    ids = dict.fromkeys(i for i in (node["id"], snap.word_id(word), snap.concept_id(word)) if i is not None)
    out = []
    for r in [rel] if rel else ROW_RELATIONS:
        way = direction or default_direction(r)
        for nid in ids:
            try:
                found = snap.neighbors(nid, r, top, way if r == "link" else "both")
            except ValueError as exc:  # a snapshot published before link directions were recorded
                raise BadInput(str(exc), param="direction") from None
            for n in found:
                out.append(
                    {
                        "rel": r,
                        "word": n.surface,
                        "id": n.id,
                        "weight": n.weight,
                        "count": n.count,
                        "passages": list(n.passages),
                        "direction": n.direction,
                    }
                )
    out.sort(key=lambda e: -e["weight"])
    return {"word": node["surface"], "snapshot_version": snap.version, "neighbors": out[:top]}


# ------------------------------------------------------------------ graph writes (API key)

Write = Depends(write_access)


@router.post("/v1/graph/edges", dependencies=[Write])
async def edge_add(edge: EdgeRequest, svc: Svc) -> dict:
    args = {"a": edge.src, "b": edge.dst, "rel": edge.rel, "weight": edge.weight}
    return await run_in_threadpool(svc.edit, "edge_add", args, "api")


@router.patch("/v1/graph/edges", dependencies=[Write])
async def edge_reweight(edge: EdgeRequest, svc: Svc) -> dict:
    if edge.weight is None:
        raise APIError(400, "weight: required to reweight an edge", "weight")
    args = {"a": edge.src, "b": edge.dst, "rel": edge.rel, "weight": edge.weight}
    return await run_in_threadpool(svc.edit, "edge_reweight", args, "api")


@router.post("/v1/graph/edges/remove", dependencies=[Write])
async def edge_remove(edge: EdgeRequest, svc: Svc) -> dict:
    args = {"a": edge.src, "b": edge.dst, "rel": edge.rel}
    return await run_in_threadpool(svc.edit, "edge_remove", args, "api")


# ------------------------------------------------------------------ jobs (API key)

MAX_UPLOAD = 50 * 2**20


@router.post("/v1/jobs", status_code=202, dependencies=[Write])
async def job_submit(request: Request, svc: Svc) -> dict:
    """`{"kind": "publish"}` as JSON, or a multipart form with `kind=ingest` and a `file` (.txt .jsonl .md)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        kind, upload = form.get("kind"), form.get("file")
    else:
        try:
            body = await request.json()
        except ValueError:
            raise APIError(400, 'send JSON {"kind": "publish"} or a multipart form with kind and file') from None
        kind, upload = (body.get("kind") if isinstance(body, dict) else None), None
    if kind not in svc.jobs.handlers:
        raise APIError(400, f"kind: expected one of {', '.join(svc.jobs.handlers)} (ingest with a file)", "kind")
    if kind == "publish":
        return svc.jobs.submit("publish").to_dict()
    if kind == "distill":
        if upload is not None or ctype.startswith("multipart/form-data"):
            raise APIError(400, "distill: send JSON {kind, name, tracks, config}", "kind")
        params = svc.check_distill({k: v for k, v in body.items() if k != "kind"})
        return svc.jobs.submit("distill", params).to_dict()
    if upload is None or isinstance(upload, str):
        raise APIError(400, "file: an ingest job needs an uploaded file", "file")
    name = Path(upload.filename or "upload.txt").name
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise APIError(400, f"file: {name!r} is not one of {', '.join(UPLOAD_SUFFIXES)}", "file")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise APIError(413, f"file: larger than {MAX_UPLOAD >> 20} MiB", "file")
    job_id = svc.jobs.new_id()
    folder = svc.jobs.upload_dir(job_id)
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    return svc.jobs.submit("ingest", {"filename": name, "path": str(folder / name)}, job_id).to_dict()


@router.get("/v1/jobs")
def jobs_list(svc: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    return {"object": "list", "data": [j.to_dict() for j in svc.jobs.list(limit)]}


@router.get("/v1/jobs/{job_id}")
def job_get(job_id: str, svc: Svc) -> dict:
    return svc.jobs.get(job_id).to_dict()


@router.post("/v1/graph/publish", status_code=202, dependencies=[Write])
def graph_publish(svc: Svc) -> dict:
    """Publish as a job (embedding new passages can take a while); poll `GET /v1/jobs/{id}`."""
    return svc.jobs.submit("publish").to_dict()


@router.post("/v1/traces/{trace_id}/feedback", dependencies=[Write])
async def trace_feedback(trace_id: str, body: FeedbackRequest, svc: Svc) -> dict:
    """Reinforce (1) or weaken (-1) the choices of an answer: an edit in the graph's log, live at the next publish."""
    trace = await run_in_threadpool(svc.traces.get, trace_id)

    def record() -> dict:
        with svc.graph_lock:
            return record_feedback(svc.workspace.graph_db, trace, body.rating, body.steps, body.note)

    return await run_in_threadpool(record)


@router.post("/v1/graph/facts", dependencies=[Write])
async def graph_fact(body: FactRequest, svc: Svc) -> dict:
    """A short text, live in seconds (a delta over the current snapshot; recounted at the next publish)."""
    return await run_in_threadpool(svc.add_fact, body.text, body.title)
