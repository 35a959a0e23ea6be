"""The server's one runtime: one model instance, requests taken one at a time, every answer traced.

Generation holds a lock for its whole length (the model's KV cache is per answer, the weights are shared),
so concurrent requests queue. A streamed answer is produced by a worker thread that always runs to its
end and commits the trace, even when the client goes away; the response only reads from its queue.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from adapters import AdapterError, DistillSpec, check, distill_adapter, resolve_adapter
from graph_store import Snapshot, add_text_live, apply_edit, connect, ingest_paths, publish
from overlay import MAX_WORDS, Answer, Runtime, RuntimeConfig, Step, TraceStore, Workspace, build_config
from selector import Backend, SelectorConfig, load_backend

from .admission import Admission
from .config import ServerConfig
from .errors import APIError
from .jobs import Job, Jobs
from .schemas import ChatRequest

_DONE = object()


@dataclass
class Service:
    workspace: Workspace
    backend: Backend
    config: RuntimeConfig
    api_key: str | None = None
    runtime: Runtime | None = None
    traces: TraceStore | None = None
    jobs: Jobs | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    admission: Admission | None = None  # completions held at once (server.queue)
    lock: threading.Lock = field(default_factory=threading.Lock)  # the model: one answer at a time
    graph_lock: threading.Lock = field(default_factory=threading.Lock)  # graph.duckdb: one writer at a time

    @classmethod
    def open(
        cls,
        workspace: Workspace,
        model: Path | None = None,
        config: RuntimeConfig | None = None,
        api_key: str | None = None,
        backend: Backend | None = None,
        selector: SelectorConfig | None = None,
        server: ServerConfig | None = None,
    ) -> Service:
        """Load the model (or share a loaded `backend`), open the trace store and the current snapshot."""
        if backend is None:
            engine = selector or SelectorConfig()
            active = resolve_adapter(workspace.home, None) if engine.takes_adapters else None
            backend = load_backend(model, active, engine)
        svc = cls(workspace, backend, config or RuntimeConfig(), api_key, server=server or ServerConfig())
        svc.admission = Admission(svc.server.queue)
        svc.traces = TraceStore(workspace.traces_db)
        workspace.recover()
        svc.reload()
        handlers = {"ingest": svc._ingest_job, "publish": svc._publish_job, "distill": svc._distill_job}
        svc.jobs = Jobs(workspace.jobs, handlers)
        return svc

    def _distill_job(self, job: Job, progress) -> dict:
        """Trains on its own copy of the base model; the served model is untouched until an activation
        and a restart."""
        spec = DistillSpec.model_validate(job.params)
        return distill_adapter(self.workspace.home, spec, self.jobs.work_dir(job.id), progress)

    def check_distill(self, params: dict) -> dict:
        """Validate a distillation request before it is queued (400 on a bad name, track or setting)."""
        if params.get("model") is not None:
            raise APIError(400, "distill: over the API an adapter is trained on the server's base model", "model")
        try:
            spec = DistillSpec.model_validate(params)
            check(self.workspace.home, spec)
        except (ValueError, AdapterError) as exc:
            raise APIError(400, f"distill: {exc}", "distill") from None
        return spec.model_dump()

    def close(self) -> None:
        if self.jobs:
            self.jobs.close()
        if self.traces:
            self.traces.close()

    def _ingest_job(self, job: Job, progress) -> dict:
        progress(0.1, f"ingesting {job.params['filename']}")
        with self.graph_lock:
            summary = ingest_paths(self.workspace.graph_db, [job.params["path"]], progress=False)
        return summary.to_dict() | {"live": "at the next publish"}

    def _publish_job(self, job: Job, progress) -> dict:
        progress(0.1, "compiling the snapshot (embedding new passages first)")
        with self.graph_lock:
            ws = self.workspace
            manifest = publish(ws.graph_db, ws.snapshots, progress=False, embedding_model=ws.embedding_model)
        progress(0.9, f"serving v{manifest.version}")
        self.reload()
        return {"version": manifest.version, "counts": manifest.counts}

    def reload(self) -> None:
        """Serve the workspace's current snapshot and its live delta (answers in flight finish on the one
        they started with). When only the delta changed, the published part of the lexicon is reused."""
        snap = Snapshot.open(self.workspace.snapshots)
        old = self.runtime
        base = old.lexicon if old is not None and old.snap.version == snap.version else None
        runtime = Runtime(snap, self.backend, self.config, base=base)
        with self.lock:
            self.runtime = runtime

    def edit(self, op: str, args: dict, note: str | None = None) -> dict:
        """One curation edit on the graph (recorded in its edit log; live at the next publish)."""
        with self.graph_lock:
            con = connect(self.workspace.graph_db)
            try:
                edit_id = apply_edit(con, op, args, note)
            finally:
                con.close()
        return {"edit_id": edit_id, "op": op, "args": args, "live": "at the next publish"}

    def add_fact(self, text: str, title: str | None = None) -> dict:
        """A small edit, live at once: ingested without the recount and served as a delta."""
        t = time.perf_counter()
        ws = self.workspace
        with self.graph_lock:
            summary, delta = add_text_live(ws.graph_db, ws.snapshots, text, ws.facts, title, ws.embedding_model)
            self.reload()
        return {
            "documents": summary.documents,
            "skipped": summary.skipped,
            "snapshot_version": delta.base_version,
            "delta": {"passages": delta.passages, "words": delta.words},
            "seconds": round(time.perf_counter() - t, 3),
        }

    @property
    def model_id(self) -> str:
        """The default model id: base+adapter when an adapter is attached."""
        return self.model_ids[-1]

    @property
    def model_ids(self) -> list[str]:
        """The base model, and the base with the attached adapter (the two `model` values accepted)."""
        adapter = self.backend.adapter
        base = self.backend.model_id
        return [base] if adapter is None else [base, f"{base}+{adapter.name}"]

    def selector(self, model: str):
        """The context a request's answer runs in: the adapter on, or switched off for the base id."""
        if model not in self.model_ids:
            raise APIError(
                404,
                f"the model {model!r} does not exist; this server serves {', '.join(map(repr, self.model_ids))}",
                "model",
                "model_not_found",
            )
        return self.backend.base_only() if model != self.model_ids[-1] else contextlib.nullcontext()

    def request_config(self, req: ChatRequest) -> RuntimeConfig:
        self.selector(req.model)
        if req.n not in (None, 1):
            raise APIError(400, "n > 1 is not supported: ask once per answer", "n", "unsupported_value")
        stops = req.stops()
        if len(stops) > 4:
            raise APIError(400, "stop: at most 4 stop strings", "stop")
        if not any(m.role == "user" and m.text().strip() for m in req.messages):
            raise APIError(400, "messages: no user message with text", "messages")
        if req.overlay:
            build_config(RuntimeConfig, req.overlay, self.config, prefix="overlay.")
        limit = req.max_completion_tokens or req.max_tokens
        update = dict(req.overlay or {}) | {"stop": stops, "max_tokens": limit}
        if limit is not None:  # the token budget governs: enough words for it
            update["max_words"] = max(self.config.max_words, min(limit, MAX_WORDS))
        if req.temperature is not None:
            update["temperature"] = req.temperature
        if req.seed is not None:
            update["seed"] = req.seed
        return build_config(RuntimeConfig, update, self.config)

    def answer(self, req: ChatRequest) -> Answer:
        cfg = self.request_config(req)
        messages = req.plain_messages()
        started = self.admission.enter()
        try:
            with self.lock, self.selector(req.model):
                answer = self.runtime.answer(messages, cfg)
                self.traces.save(answer)
        finally:
            self.admission.leave(started)
        return answer

    def stream(self, req: ChatRequest) -> Streamed:
        """A streamed answer: each step as it is chosen, then the committed Answer (or the error)."""
        cfg = self.request_config(req)
        messages = req.plain_messages()
        out: queue.Queue = queue.Queue()
        started = self.admission.enter()
        try:
            with self.lock:  # the id is fixed before the first step, so the response can carry it from the start
                gen = self.runtime.stream(messages, cfg)
        except BaseException:
            self.admission.leave(started)
            raise

        def work() -> None:
            try:
                with self.lock, self.selector(req.model):
                    for step in gen:
                        out.put(step)
                    self.traces.save(gen.answer)
                out.put(gen.answer)
            except Exception as exc:  # handed to the response, which reports it in the stream
                out.put(exc)
            finally:
                self.admission.leave(started)
                out.put(_DONE)

        threading.Thread(target=work, name=f"answer-{gen.id[:8]}", daemon=True).start()

        def items() -> Iterator[Step | Answer | Exception]:
            while (item := out.get()) is not _DONE:
                yield item

        return Streamed(gen.id, items(), gen.cancel)


@dataclass
class Streamed:
    """A streamed answer: its trace id (known before the first word), its items, and `cancel` for a client
    gone mid-stream: the answer stops at the next word, its trace is kept (finish_reason "cancelled") and
    its place in the queue is freed, instead of writing on for nobody."""

    id: str
    items: Iterator[Step | Answer | Exception]
    cancel: Callable[[], None]


def now() -> int:
    return int(time.time())
