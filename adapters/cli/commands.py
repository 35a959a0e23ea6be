"""`overlay tracks …`, `overlay adapters …` and `overlay jobs …`: distil tracks into verified adapters.

The adapters' own command groups, mounted by the CLI's root (`api.cli`); torch loads only when needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from common import BadInput
from overlay import RESUMABLE, Job, JobStore, TraceStore, Workspace, build_config
from overlay.cli import Json, config_options, emit_json, err, handle_errors, out

from ..distill import DistillConfig
from ..pipeline import DistillSpec, check, distill_adapter

tracks_app = typer.Typer(help="Tracks: frequent paths (traces, graph, curated files) to distil.", no_args_is_help=True)
adapters_app = typer.Typer(help="LoRA adapters for the selector: distil, verify, activate.", no_args_is_help=True)
jobs_app = typer.Typer(help="Long jobs (distillation, ingest, publish): status and resume.", no_args_is_help=True)


def _home() -> Path:
    return Workspace().home


def _jobs() -> JobStore:
    return JobStore(Workspace().jobs)


# ---------------------------------------------------------------------------------------------- tracks
@tracks_app.command("mine")
@handle_errors
def tracks_mine(
    min_support: Annotated[int, typer.Option(min=2, help="Distinct answers (or edge count) a path needs.")] = 3,
    source: Annotated[str, typer.Option(help="traces, graph or all.")] = "all",
    limit: Annotated[int, typer.Option(min=1, help="Keep at most this many tracks per source.")] = 20,
    as_json: Json = False,
) -> None:
    """Find frequent paths in traces and strong chains in the graph; save them as tracks."""
    from ..tracks import mine_graph, mine_traces, save_mined

    if source not in ("traces", "graph", "all"):
        raise BadInput("--source must be traces, graph or all")
    ws = Workspace()
    found = []
    if source in ("traces", "all") and ws.traces_db.exists():
        store = TraceStore(ws.traces_db)
        try:
            answers = [(i, text) for i, _, text in store.answer_texts()]
        finally:
            store.close()
        found += mine_traces(answers, min_support=min_support)[:limit]
    if source in ("graph", "all"):
        from graph_store import Snapshot

        found += mine_graph(Snapshot.open(ws.snapshots), min_support=min_support)[:limit]
    paths = save_mined(ws.home, found)
    if as_json:
        return emit_json({"tracks": [t.summary() for t in found], "files": [str(p) for p in paths]})
    for track in found:
        out.print(f"{track.id:<48} support {track.support:>5}  {' → '.join(track.chain)}")
    err.print(f"{len(found)} tracks saved under {ws.home / 'tracks'}")


@tracks_app.command("list")
@handle_errors
def tracks_list(as_json: Json = False) -> None:
    """Curated tracks (adapters/data/tracks) and mined ones (OVERLAY_HOME/tracks)."""
    from ..tracks import load_tracks

    tracks = load_tracks(_home())
    if as_json:
        return emit_json([t.summary() for t in tracks.values()])
    for track in tracks.values():
        out.print(f"{track.id:<48} {track.source:<8} {' → '.join(track.chain)}")


@tracks_app.command("show")
@handle_errors
def tracks_show(track_id: str, as_json: Json = False) -> None:
    """A track with its training pairs and held-out variants."""
    from ..dataset import track_examples
    from ..tracks import get_tracks

    (track,) = get_tracks([track_id], _home())
    train, heldout = track_examples(track)
    data = {**track.summary(), "train": [e.__dict__ for e in train], "heldout": [e.__dict__ for e in heldout]}
    if as_json:
        return emit_json(data)
    out.print(f"{track.id}: {track.title}  ({track.source}, chain {' → '.join(track.chain)})")
    for label, rows in (("train", train), ("held out", heldout)):
        out.print(f"\n{label} ({len(rows)}):")
        for e in rows[:5]:
            out.print(f"  {e.context!r} → {e.continuation!r}  [{e.variant}]")


# -------------------------------------------------------------------------------------------- adapters
def _print_checks(checks: dict[str, dict]) -> None:
    for key, c in checks.items():
        out.print(f"  {key:<18} {c['value']!s:<10} {c['threshold']:<8} {'ok' if c['passed'] else 'FAIL'}")


def _run_distill(store: JobStore, job: Job, as_json: bool) -> None:
    spec = DistillSpec.model_validate(job.params)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("distilling", total=1.0)

        def handler(job: Job, progress: Any) -> dict:
            def both(fraction: float, message: str) -> None:
                progress(fraction, message)
                bar.update(task, completed=fraction, description=message)

            return distill_adapter(_home(), spec, store.work_dir(job.id), both)

        job = store.run(job, handler)
    if as_json:
        emit_json(job.to_dict())
    elif job.status == "done":
        result = job.result or {}
        verdict = (
            "verified" if result.get("verified") else f"NOT verified (failed: {', '.join(result.get('failed', []))})"
        )
        out.print(f"adapter {result.get('name')} {verdict}; job {job.id}")
        _print_checks(result.get("checks", {}))
    if job.status != "done":
        err.print(f"[bold red]error:[/] job {job.id} {job.status}: {job.error}", markup=True)
        raise typer.Exit(1)


@adapters_app.command("distill")
@handle_errors
@config_options(DistillConfig, panel="Distillation settings (see `overlay config`)")
def adapters_distill(
    track: Annotated[list[str], typer.Option("--track", help="A track id (repeat for several).")],
    name: Annotated[str, typer.Option(help="Registry name of the new adapter.")],
    model: Annotated[str | None, typer.Option(help="Base model folder (default: bundled SmolLM2).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace an adapter of the same name.")] = False,
    as_json: Json = False,
    settings: dict[str, Any] | None = None,
) -> None:
    """Train a LoRA adapter on tracks as a resumable job, verify its imprint, install it in the registry."""
    config = build_config(DistillConfig, settings or {})
    spec = build_config(
        DistillSpec, {"name": name, "tracks": track, "config": config, "model": model, "replace": replace}
    )
    check(_home(), spec)
    store = _jobs()
    job = store.create("distill", spec.model_dump())
    err.print(f"job {job.id} (resume after an interruption with `overlay jobs resume {job.id}`)")
    _run_distill(store, job, as_json)


@adapters_app.command("list")
@handle_errors
def adapters_list(as_json: Json = False) -> None:
    """Adapters in the registry, with their verdict and the active one."""
    from .. import registry

    home = _home()
    active = (registry.active_adapter(home) or {}).get("name")
    rows = []
    for name in registry.names(home):
        m = registry.read_manifest(home, name)
        rows.append(
            {
                "name": name,
                "verified": m.verified,
                "active": name == active,
                "tracks": m.tracks,
                "base_model": m.base_model.get("id"),
                "created": m.created,
            }
        )
    if as_json:
        return emit_json(rows)
    for r in rows:
        flag = "*" if r["active"] else " "
        out.print(
            f"{flag} {r['name']:<32} {'verified' if r['verified'] else 'unverified':<11} {', '.join(r['tracks'])}"
        )


@adapters_app.command("show")
@handle_errors
def adapters_show(name: str, as_json: Json = False) -> None:
    """An adapter's manifest: base model, tracks, hyper-parameters, data sizes, imprint report."""
    from .. import registry

    path, manifest = registry.open_adapter(_home(), name)
    data = manifest.model_dump() | {"folder": str(path)}
    if as_json:
        return emit_json(data)
    out.print(f"{name}: {'verified' if manifest.verified else 'NOT verified'}; tracks {', '.join(manifest.tracks)}")
    out.print(
        f"base {manifest.base_model.get('id')}  rank {manifest.hyperparameters.get('rank')}  data {manifest.data}"
    )
    _print_checks((manifest.report or {}).get("checks", {}))
    out.print(f"plots: {path / 'report'}")


@adapters_app.command("activate")
@handle_errors
def adapters_activate(
    name: str,
    force: Annotated[bool, typer.Option(help="Activate an unverified adapter (traces will say so).")] = False,
    as_json: Json = False,
) -> None:
    """Make the runtime's selector use this adapter."""
    from .. import registry

    state = registry.activate(_home(), name, force=force)
    if as_json:
        return emit_json(state)
    out.print(f"active adapter: {name}{'' if state['verified'] else ' (unverified, forced)'}")


@adapters_app.command("deactivate")
@handle_errors
def adapters_deactivate() -> None:
    """Answer with the base model again."""
    from .. import registry

    registry.deactivate(_home())
    out.print("no active adapter")


@adapters_app.command("remove")
@handle_errors
def adapters_remove(name: str) -> None:
    """Delete an adapter (deactivating it first if it is active)."""
    from .. import registry

    registry.remove(_home(), name)
    out.print(f"removed {name}")


@adapters_app.command("adherence")
@handle_errors
def adapters_adherence(name: str, as_json: Json = False) -> None:
    """How often the selector picks the adapter's track words on held-out variants, before vs after."""
    from graph_store import Snapshot
    from selector import load_backend

    from .. import registry
    from ..adherence import adherence
    from ..dataset import build as build_dataset
    from ..tracks import get_tracks

    home = _home()
    ref = registry.reference(home, name, force=True)
    manifest = registry.read_manifest(home, name)
    data = build_dataset(get_tracks(manifest.tracks, home))
    with err.status("measuring…"):
        result = adherence(load_backend(adapter=ref), Snapshot.open(Workspace().snapshots), data.heldout)
    if as_json:
        return emit_json(result)
    out.print(f"{result['pairs']} held-out pairs; the graph proposes the track word in {result['proposed_by_graph']}")
    for side in ("before", "after"):
        out.print(f"  {side:<7} all {result[side]['all']}  when proposed {result[side]['when_proposed']}")


# ------------------------------------------------------------------------------------------------ jobs
@jobs_app.command("list")
@handle_errors
def jobs_list(limit: Annotated[int, typer.Option(min=1)] = 20, as_json: Json = False) -> None:
    jobs = _jobs().list(limit)
    if as_json:
        return emit_json([j.to_dict() for j in jobs])
    for j in jobs:
        out.print(f"{j.id}  {j.kind:<8} {j.status:<12} {j.progress:>4.0%}  {j.message}")


@jobs_app.command("status")
@handle_errors
def jobs_status(
    job_id: str,
    wait: Annotated[bool, typer.Option(help="Wait until the job is no longer queued or running.")] = False,
    as_json: Json = False,
) -> None:
    """A job's state; exit 0 if done, 1 otherwise (failed, interrupted, or still running without --wait)."""
    store = _jobs()
    job = store.get(job_id)
    while wait and job.status in ("queued", "running"):
        time.sleep(0.5)
        job = store.get(job_id)
    if as_json:
        emit_json(job.to_dict())
    else:
        out.print(f"{job.id}  {job.kind}  {job.status}  {job.progress:.0%}  {job.message}")
        if job.error:
            err.print(job.error)
    if job.status != "done":
        raise typer.Exit(1)


@jobs_app.command("resume")
@handle_errors
def jobs_resume(job_id: str, as_json: Json = False) -> None:
    """Continue an interrupted distillation from its last checkpoint (same seed → same adapter)."""
    store = _jobs()
    job = store.get(job_id)
    if job.kind not in RESUMABLE:
        raise BadInput(f"job {job_id} is a {job.kind} job; only {', '.join(RESUMABLE)} jobs resume")
    if job.status in ("done", "queued", "running"):
        raise BadInput(f"job {job_id} is {job.status}; only interrupted or failed jobs resume")
    _run_distill(store, job, as_json)
