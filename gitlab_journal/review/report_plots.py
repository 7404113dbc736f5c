"""The report's plots, as PNG bytes: a metric against a varied param, and learning curves.

matplotlib is imported inside the functions, with the Agg back end (no display needed).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gitlab_journal.journal.escape import controls_visible
from gitlab_journal.review.values import value_text

WIDTH, HEIGHT, DPI = 6.4, 3.6, 100
POINT_COLOR = "#1f77b4"  # matplotlib's first colour: points
MEAN_COLOR = "#d62728"  # the mean at each value


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def _plain(text: str) -> str:
    """Text drawn as written: ``$`` would start matplotlib's math mode, a control character
    is written out."""
    return controls_visible(str(text)).replace("$", r"\$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_vs_param(
    param: str,
    points: Sequence[tuple[Any, float]],
    metric: str,
    title: str,
) -> bytes:
    """Each run's ``metric`` against its value of ``param``, with the mean per value as a line.
    Numbers go on a (log, when they span two decades or more) axis; other values are
    categories."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
    numeric = all(_is_number(x) for x, _ in points)
    if numeric:
        xs = [float(x) for x, _ in points]
        positive = [x for x in xs if x > 0]
        if len(positive) == len(xs) and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
    else:
        labels = sorted({_label(x) for x, _ in points})
        where = {name: i for i, name in enumerate(labels)}
        xs = [float(where[_label(x)]) for x, _ in points]
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30 if len(labels) > 4 else 0, ha="right")
    ys = [y for _, y in points]
    ax.scatter(xs, ys, s=28, color=POINT_COLOR, alpha=0.8, label="runs", zorder=3)
    means: dict[float, list[float]] = {}
    for x, y in zip(xs, ys, strict=True):
        means.setdefault(x, []).append(y)
    line = sorted((x, sum(v) / len(v)) for x, v in means.items())
    ax.plot([x for x, _ in line], [m for _, m in line], color=MEAN_COLOR, lw=2, label="mean")
    ax.set_xlabel(_plain(param))
    ax.set_ylabel(_plain(metric))
    ax.set_title(_plain(title), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str) -> bytes:
    """One line per (run, metric) against the epoch: ``{run id: {metric: [per epoch]}}``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
    for run_id, history in histories.items():
        for metric, values in history.items():
            clean = [float(v) if _is_number(v) else float("nan") for v in values]
            ax.plot(range(1, len(clean) + 1), clean, lw=1.5, label=_plain(f"{run_id[:8]} {metric}"))
    ax.set_xlabel("epoch")
    ax.set_title(_plain(title), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _label(value: Any) -> str:
    """A param's value as the report's tables write it (``null``, ``0.1``, ``inf``)."""
    return _plain(value_text(value))
