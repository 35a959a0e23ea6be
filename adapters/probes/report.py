"""Write a probe report to a folder: `report.json`, PNG plots (matplotlib, Agg) and an offline `index.html`.

Plots are drawn from the JSON alone, so a report can be re-rendered or read by scripts without a model.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from common import write_atomic

PLOT_LABEL_LIMIT = 64  # above this many tokens, axis labels would be unreadable


def _array(value: Any) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in value], dtype=float)


def _heatmap(
    path: Path,
    data: np.ndarray,
    title: str,
    ylabel: str,
    xlabels: list[str] | None,
    cmap: str = "viridis",
    xlabel: str = "token position",
    center: float | None = None,
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = min(22, 4 + 0.22 * data.shape[1]) if xlabels else 12
    fig, ax = plt.subplots(figsize=(max(6, width), 1.6 + 0.18 * data.shape[0]))
    kwargs: dict[str, Any] = {"aspect": "auto", "cmap": cmap, "interpolation": "nearest", "origin": "lower"}
    if center is not None:
        bound = float(np.nanmax(np.abs(data))) or 1.0
        kwargs.update(vmin=center - bound, vmax=center + bound)
    image = ax.imshow(data, **kwargs)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    if xlabels and len(xlabels) <= PLOT_LABEL_LIMIT:
        ax.set_xticks(range(len(xlabels)))
        ax.set_xticklabels(xlabels, rotation=90, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _labels(tokens: list[str]) -> list[str]:
    return [t.replace("\n", "⏎") or "∅" for t in tokens]


def _bars(path: Path, values: list[float | None], labels: list[str], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.array([np.nan if v is None else v for v in values], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6, min(22, 4 + 0.22 * len(data))), 3))
    ax.bar(range(len(data)), np.nan_to_num(data), color="#4c72b0")
    ax.set_title(title)
    ax.set_ylabel("nats")
    if len(labels) <= PLOT_LABEL_LIMIT:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _log_rank(rank: np.ndarray) -> np.ndarray:
    """log10 of the rank; rank 0 marks the last position (no next token) and is left blank."""
    return np.where(rank >= 1, np.log10(np.maximum(rank, 1)), np.nan)


def _map_plots(report: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    tokens = _labels([t["text"] for t in report["tokens"]])
    plots = [
        (
            "Hidden-state norm (log10)",
            _heatmap(
                out / "hidden_norm.png",
                np.log10(_array(report["hidden_norm"]) + 1e-9),
                "log10 ‖h‖ per hidden index",
                "hidden index (0 = embeddings)",
                tokens,
            ),
        ),
        (
            "Drift from the previous index",
            _heatmap(
                out / "drift.png",
                _array(report["drift"]),
                "cosine distance from the index below",
                "layer",
                tokens,
                "magma",
            ),
        ),
        (
            "Logit-lens rank of the actual next token (log10)",
            _heatmap(
                out / "lens_rank.png",
                _log_rank(_array(report["logit_lens"]["rank"])),
                "log10 rank of the next token (0 = top-1)",
                "hidden index",
                tokens,
                "viridis_r",
            ),
        ),
        (
            "Surprisal at the output",
            _bars(out / "surprisal.png", report["surprisal"], tokens, "surprisal of the next token"),
        ),
    ]
    if report.get("cross_drift") is not None:
        plots.insert(
            2,
            (
                f"Drift against {report['compared_with']}",
                _heatmap(
                    out / "cross_drift.png",
                    _array(report["cross_drift"]),
                    "cosine distance between the two runs",
                    "hidden index",
                    tokens,
                    "magma",
                ),
            ),
        )
    means = report["attention"]["head_means"]
    for kind, title in (
        ("entropy", "Attention entropy (nats)"),
        ("sink", "Share to the first token"),
        ("prev", "Share to the previous token"),
        ("same", "Share to earlier copies of the token"),
    ):
        plots.append(
            (
                f"{title}, mean over positions",
                _heatmap(out / f"attention_{kind}.png", _array(means[kind]), title, "layer", None, "cividis", "head"),
            )
        )
    return plots


def _heads_plots(report: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    return [
        (
            f"{kind.replace('_', ' ')} score (threshold {report['thresholds'][kind]})",
            _heatmap(out / f"heads_{kind}.png", _array(scores), f"{kind} score", "layer", None, "viridis", "head"),
        )
        for kind, scores in report["scores"].items()
    ]


def _patch_plots(report: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    restored = _array(report["restored"]) if report["note"] is None else _array(report["logprob"])
    tokens = _labels(report["tokens"]["corrupt"])
    return [
        (
            f"Restored share of log P({report['target']!r})",
            _heatmap(
                out / "patch.png", restored, "restored fraction", "hidden index patched", tokens, "RdBu_r", center=0.0
            ),
        )
    ]


def _compare_plots(report: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = report["a"]["word_surprisal"], report["b"]["word_surprisal"]
    fig, ax = plt.subplots(figsize=(max(6, min(22, 4 + 0.22 * len(a))), 3))
    x = np.arange(len(a))
    ax.bar(x - 0.2, [v or 0 for v in a], 0.4, label=report["a"]["model"]["id"])
    ax.bar(x + 0.2, [v or 0 for v in b], 0.4, label=report["b"]["model"]["id"])
    if len(a) <= PLOT_LABEL_LIMIT:
        ax.set_xticks(x)
        ax.set_xticklabels(report["words"], rotation=90, fontsize=7)
    ax.set_ylabel("nats")
    ax.set_title("surprisal per word")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "compare.png", dpi=90)
    plt.close(fig)
    return [("Surprisal per word", "compare.png")]


PLOTTERS = {"map": _map_plots, "heads": _heads_plots, "patch": _patch_plots, "compare": _compare_plots}


def _summary(report: dict[str, Any]) -> list[tuple[str, str]]:
    kind = report["kind"]
    if kind == "map":
        lens = report["logit_lens"]["first_top1"]
        known = [v for v in lens if v is not None]
        return [
            ("models", ", ".join(m["id"] for m in report["models"])),
            ("tokens", str(len(report["tokens"]))),
            ("positions right at the output", f"{len(known)} of {len(lens) - 1}"),
            ("mean first stable top-1 index", f"{np.mean(known):.1f}" if known else "–"),
        ]
    if kind == "heads":
        return [("model", report["model"]["id"])] + [(k, str(v)) for k, v in report["counts"].items()]
    if kind == "patch":
        return [
            ("target", report["target"]),
            ("log P clean", str(report["logprob_clean"])),
            ("log P corrupt", str(report["logprob_corrupt"])),
            ("all layers at the changed tokens", str(report["all_layers_at_differing"]["restored"])),
        ]
    return [
        (
            side["model"]["id"],
            f"{side['mean_surprisal_per_word']} nats/word, emergence {side['emergence_depth_fraction']}",
        )
        for side in (report["a"], report["b"])
    ]


def write_report(report: dict[str, Any], out: Path) -> Path:
    """Write JSON, plots and index.html into `out` (created); returns the index path."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "report.json", json.dumps(report, indent=1, ensure_ascii=False))
    plots = PLOTTERS[report["kind"]](report, out)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _summary(report))
    figures = "".join(
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<img src="{html.escape(name)}" alt="{html.escape(title)}"></figure>'
        for title, name in plots
    )
    text = report.get("text") or f"{report.get('clean', '')} → {report.get('corrupt', '')}"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>overlay probe {report["kind"]}</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;max-width:1400px;color:#222}}
table{{border-collapse:collapse;margin:12px 0}}th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
figure{{margin:18px 0}}img{{max-width:100%;border:1px solid #eee}}blockquote{{color:#555;white-space:pre-wrap}}</style>
</head><body><h1>overlay probe {report["kind"]}</h1><blockquote>{html.escape(text or "")}</blockquote>
<table>{rows}</table>{figures}<p><a href="report.json">report.json</a></p></body></html>"""
    write_atomic(out / "index.html", page)
    return out / "index.html"


def imprint_plots(report: dict[str, Any], out: Path) -> list[str]:
    """Plots of an adapter's imprint report: drift per layer at track vs control positions, and the
    log-prob of the continuations before and after, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    inside = report["internal"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(inside["drift_track"], label="track positions")
    ax.plot(inside["drift_control"], label="control positions")
    ax.set_xlabel("hidden index")
    ax.set_ylabel("cosine distance to base")
    ax.set_title(f"drift against the base (selectivity {inside['drift_selectivity']}×)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "drift.png", dpi=90)
    plt.close(fig)
    variants = {**report["efficacy"]["by_variant"], **report["generalisation"]["by_variant"]}
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(variants))
    ax.bar(x - 0.2, [v["base_top1"] for v in variants.values()], 0.4, label="base")
    ax.bar(x + 0.2, [v["top1"] for v in variants.values()], 0.4, label="adapted")
    ax.set_xticks(x)
    ax.set_xticklabels(list(variants), fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("greedy continuation rate")
    ax.set_title("track continuations written greedily")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "efficacy.png", dpi=90)
    plt.close(fig)
    write_atomic(out / "report.json", json.dumps(report, indent=1))
    return ["drift.png", "efficacy.png", "report.json"]
