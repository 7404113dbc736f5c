"""The learning-curve plot of a run, as PNG bytes for the run's directory.

matplotlib is imported inside the function and drawn on its Agg canvas directly: pyplot and the
process's chosen back end (a notebook's, say) are never touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

CURVE_DPI = 100


def _values(series: Sequence[float | None]) -> list[float]:
    return [v if v is not None and math.isfinite(v) else math.nan for v in series]


def learning_curve(
    history: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    best_epoch: int | None = None,
    stopped: str | None = None,
) -> bytes:
    """Loss (train and validation) on the left, the other metrics on the right; the best
    epoch (0-based) is marked, and a run stopped early says why under the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = sorted({key.removeprefix("val_") for key in history})
    others = [n for n in names if n != "loss"]
    panels = ["loss", *others[:1]] if others else ["loss"]
    figure = Figure(figsize=(4.2 * len(panels), 3.4), dpi=CURVE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    heading = title if not stopped else f"{title}\n{stopped}"
    figure.suptitle(heading, fontsize=9)
    for i, name in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        finite: list[float] = []
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            if key not in history:
                continue
            values = _values(history[key])
            epochs = list(range(1, len(values) + 1))
            axes.plot(epochs, values, style, marker="o", markersize=3, label=label)
            finite += [v for v in values if not math.isnan(v)]
        if best_epoch is not None:
            axes.axvline(best_epoch + 1, color="grey", linewidth=0.8, linestyle=":")
        positive = [v for v in finite if v > 0]
        if name == "loss" and positive and max(positive) / min(positive) > 100:
            axes.set_yscale("log")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(True, alpha=0.3)
        if finite:
            axes.legend(fontsize=8)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
