"""Server-side SVG charts of the UI: confusion matrix, ROC curve, predicted against actual,
residuals, and the parallel coordinates of a study's trials.

Each function returns one self-contained `<svg>` (no script, no external asset); every data
mark carries a `<title>` tooltip and a class (`cell`, `point`, `bar`, `trial`) so a test can
count what was drawn. Numbers are formatted and axes ticked as in the trials report
(`vtp.components.tuning.svg_plot`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from vtp.components.tuning.svg_plot import fmt, nice_ticks

WIDTH, HEIGHT = 420, 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 18, 36, 52
BLUE, ORANGE, GREEN, GREY = "#1a73e8", "#e8710a", "#188038", "#9aa0a6"
INK, MUTED, GRID = "#202124", "#5f6368", "#e8eaed"


def _open(kind: str, title: str, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{kind}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="12" y="20" font-size="13" font-weight="600" fill="{INK}">{escape(title)}</text>',
    ]


class Axis:
    """A linear axis from data values onto pixels [start, end]."""

    def __init__(self, low: float, high: float, start: float, end: float, pad: float = 0.04):
        if not high > low:
            spread = abs(low) * 0.1 or 1.0
            low, high = low - spread, high + spread
        margin = (high - low) * pad
        self.low, self.high = low - margin, high + margin
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        return [(self(t), fmt(t)) for t in nice_ticks(self.low, self.high)]


def _frame(x: Axis, y: Axis, x_label: str, y_label: str, width: int, height: int) -> list[str]:
    x0, x1, y0, y1 = x.start, x.end, y.start, y.end
    out = []
    for py, label in y.ticks():
        out.append(
            f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="{GRID}"/>'
            f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(label)}</text>"
        )
    for px, label in x.ticks():
        out.append(
            f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + 4}" stroke="{MUTED}"/>'
            f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" fill="{MUTED}">'
            f"{escape(label)}</text>"
        )
    out.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="{MUTED}"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="{MUTED}"/>'
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">{escape(x_label)}</text>'
        f'<text x="16" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" font-size="12" fill="{INK}" '
        f'transform="rotate(-90 16 {(y0 + y1) / 2:.1f})">{escape(y_label)}</text>'
    )
    return out


def _axes(
    xs: Sequence[float], ys: Sequence[float], width: int, height: int, square: bool = False
) -> tuple[Axis, Axis]:
    if square:
        low, high = min([*xs, *ys]), max([*xs, *ys])
        return (
            Axis(low, high, _LEFT, width - _RIGHT),
            Axis(low, high, height - _BOTTOM, _TOP),
        )
    return (
        Axis(min(xs), max(xs), _LEFT, width - _RIGHT),
        Axis(min(ys), max(ys), height - _BOTTOM, _TOP),
    )


def _blend(share: float) -> str:
    """White to blue as `share` goes from 0 to 1."""
    share = max(0.0, min(1.0, share))
    r = round(255 + (26 - 255) * share)
    g = round(255 + (115 - 255) * share)
    b = round(255 + (232 - 255) * share)
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_matrix(classes: Sequence[str], rows: Sequence[Sequence[float]]) -> str:
    """Rows are the true class, columns the predicted one; a cell's shade is its share of its
    row (recall per class), its text the count."""
    n = len(classes)
    cell = max(28, min(72, 300 // max(1, n)))
    left, top = 110, 70
    width = left + cell * n + 24
    height = top + cell * n + 40
    out = _open("confusion-matrix", "Confusion matrix", max(width, 260), height)
    out.append(
        f'<text x="{left + cell * n / 2:.1f}" y="{top - 24}" text-anchor="middle" '
        f'font-size="12" fill="{INK}">predicted</text>'
        f'<text x="14" y="{top + cell * n / 2:.1f}" font-size="12" fill="{INK}" '
        f'text-anchor="middle" transform="rotate(-90 14 {top + cell * n / 2:.1f})">true</text>'
    )
    for j, name in enumerate(classes):
        out.append(
            f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top - 8}" text-anchor="middle" '
            f'fill="{MUTED}">{escape(_short(name))}</text>'
        )
    for i, (name, row) in enumerate(zip(classes, rows, strict=False)):
        total = sum(row) or 1.0
        out.append(
            f'<text x="{left - 8}" y="{top + (i + 0.5) * cell + 4:.1f}" text-anchor="end" '
            f'fill="{MUTED}">{escape(_short(name))}</text>'
        )
        for j, count in enumerate(row):
            share = count / total
            x, y = left + j * cell, top + i * cell
            ink = "#fff" if share > 0.55 else INK
            out.append(
                f'<g class="cell" data-true="{escape(name)}" data-predicted="{escape(classes[j])}"'
                f' data-count="{fmt(count)}"><rect x="{x}" y="{y}" width="{cell}" '
                f'height="{cell}" fill="{_blend(share)}" stroke="#dadce0"/>'
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                f'fill="{ink}" font-size="12">{fmt(count)}</text>'
                f"<title>true {escape(name)}, predicted {escape(classes[j])}: {fmt(count)} "
                f"({share:.1%} of the true class)</title></g>"
            )
    out.append("</svg>")
    return "".join(out)


def _short(text: str, chars: int = 12) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def roc_curve(
    points: Sequence[tuple[float, float, float]], auc: float | None = None, against: str = ""
) -> str:
    """(false positive rate, true positive rate, threshold) points, with the chance diagonal;
    `against` names a one-vs-rest curve's class."""
    title = "ROC curve" + (f", {against}" if against else "")
    title += f" (AUC {auc:.4f})" if auc is not None else ""
    out = _open("roc", title)
    x = Axis(0.0, 1.0, _LEFT, WIDTH - _RIGHT, pad=0.02)
    y = Axis(0.0, 1.0, HEIGHT - _BOTTOM, _TOP, pad=0.02)
    out += _frame(x, y, "false positive rate", "true positive rate", WIDTH, HEIGHT)
    out.append(
        f'<line x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}" '
        f'stroke="{GREY}" stroke-dasharray="4 3"/>'
    )
    ordered = sorted(points, key=lambda p: (p[0], p[1]))
    if ordered:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(f):.1f},{y(t):.1f}" for i, (f, t, _) in enumerate(ordered)
        )
        out.append(f'<path class="curve" d="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for f, t, threshold in ordered:
        out.append(
            f'<circle class="point" cx="{x(f):.1f}" cy="{y(t):.1f}" r="3" fill="{BLUE}">'
            f"<title>threshold {fmt(threshold)}: fpr {fmt(f)}, tpr {fmt(t)}</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


def predicted_vs_actual(actual: Sequence[float], predicted: Sequence[float]) -> str:
    """Each test row as (actual, predicted), with the diagonal a perfect model lies on."""
    out = _open("predicted-vs-actual", f"Predicted against actual ({len(actual)} rows)")
    x, y = _axes(actual or [0.0, 1.0], predicted or [0.0, 1.0], WIDTH, HEIGHT, square=True)
    out += _frame(x, y, "actual", "predicted", WIDTH, HEIGHT)
    lo, hi = max(x.low, y.low), min(x.high, y.high)
    out.append(
        f'<line x1="{x(lo):.1f}" y1="{y(lo):.1f}" x2="{x(hi):.1f}" y2="{y(hi):.1f}" '
        f'stroke="{GREY}" stroke-dasharray="4 3"/>'
    )
    for a, p in zip(actual, predicted, strict=True):
        out.append(
            f'<circle class="point" cx="{x(a):.1f}" cy="{y(p):.1f}" r="3" fill="{BLUE}" '
            f'fill-opacity="0.6"><title>actual {fmt(a)}, predicted {fmt(p)}</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)


def residuals(actual: Sequence[float], predicted: Sequence[float]) -> str:
    """Residuals (actual - predicted) against the prediction, around the zero line."""
    res = [a - p for a, p in zip(actual, predicted, strict=True)]
    out = _open("residuals", "Residuals (actual - predicted)")
    x, y = _axes(predicted or [0.0, 1.0], [*res, 0.0], WIDTH, HEIGHT)
    out += _frame(x, y, "predicted", "residual", WIDTH, HEIGHT)
    out.append(
        f'<line x1="{x.start}" y1="{y(0):.1f}" x2="{x.end}" y2="{y(0):.1f}" stroke="{GREY}" '
        'stroke-dasharray="4 3"/>'
    )
    for p, r in zip(predicted, res, strict=True):
        out.append(
            f'<circle class="point" cx="{x(p):.1f}" cy="{y(r):.1f}" r="3" fill="{ORANGE}" '
            f'fill-opacity="0.6"><title>predicted {fmt(p)}, residual {fmt(r)}</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)


def residual_histogram(actual: Sequence[float], predicted: Sequence[float], bins: int = 20) -> str:
    """How the residuals are distributed."""
    res = [a - p for a, p in zip(actual, predicted, strict=True)]
    out = _open("residual-histogram", "Residual distribution")
    if not res:
        out.append("</svg>")
        return "".join(out)
    low, high = min(res), max(res)
    if high == low:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    counts = [0] * bins
    for r in res:
        counts[min(bins - 1, int((r - low) / step))] += 1
    x = Axis(low, high, _LEFT, WIDTH - _RIGHT, pad=0.0)
    y = Axis(0.0, max(counts), HEIGHT - _BOTTOM, _TOP, pad=0.0)
    y.low = 0.0
    out += _frame(x, y, "residual", "rows", WIDTH, HEIGHT)
    for i, count in enumerate(counts):
        left, right = low + i * step, low + (i + 1) * step
        px, top = x(left), y(count)
        out.append(
            f'<rect class="bar" x="{px + 0.5:.1f}" y="{top:.1f}" '
            f'width="{max(0.5, x(right) - px - 1):.1f}" height="{y.start - top:.1f}" '
            f'fill="{ORANGE}" fill-opacity="0.75"><title>{fmt(left)} to {fmt(right)}: {count} '
            "rows</title></rect>"
        )
    out.append("</svg>")
    return "".join(out)


def parallel_coordinates(
    columns: Sequence[tuple[str, bool]],
    trials: Sequence[tuple[str, Sequence[float | str | None], bool]],
    metric: str,
) -> str:
    """One vertical axis per parameter (`(name, log scale)`) and a last one for the metric;
    each trial `(id, values, best)` is a polyline across them, coloured by its metric (the
    best drawn last, thick and orange). A value that is a string is placed on a categorical
    axis; None (no value) breaks the line there."""
    names = [c[0] for c in columns] + [metric]
    logs = [c[1] for c in columns] + [False]
    width = max(WIDTH, 120 * len(names) + 80)
    height = 380
    top, bottom = 48, height - 40
    out = _open(
        "parallel-coordinates", f"Parameters and {metric}, one line per trial", width, height
    )
    xs = [60 + i * (width - 120) / max(1, len(names) - 1) for i in range(len(names))]
    scales = []
    for k in range(len(names)):
        values = [t[1][k] for t in trials if k < len(t[1]) and t[1][k] is not None]
        scales.append(_column_scale(values, logs[k], bottom, top))
    metric_values = [float(t[1][-1]) for t in trials if t[1] and isinstance(t[1][-1], int | float)]
    m_low, m_high = (min(metric_values), max(metric_values)) if metric_values else (0.0, 1.0)
    for k, name in enumerate(names):
        px = xs[k]
        out.append(
            f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="{MUTED}"/>'
            f'<text x="{px:.1f}" y="{top - 12}" text-anchor="middle" font-size="12" '
            f'font-weight="{600 if k == len(names) - 1 else 400}" fill="{INK}">'
            f"{escape(_short(name, 18))}</text>"
        )
        for py, label in scales[k].ticks():
            out.append(
                f'<text x="{px - 5:.1f}" y="{py + 4:.1f}" text-anchor="end" fill="{MUTED}" '
                f'font-size="10">{escape(label)}</text>'
                f'<line x1="{px - 3:.1f}" y1="{py:.1f}" x2="{px:.1f}" y2="{py:.1f}" '
                f'stroke="{MUTED}"/>'
            )
    for trial_id, values, best in sorted(trials, key=lambda t: t[2]):
        points = []
        for k in range(len(names)):
            v = values[k] if k < len(values) else None
            points.append(None if v is None else (xs[k], scales[k](v)))
        value = values[-1] if values else None
        share = (
            (float(value) - m_low) / (m_high - m_low)
            if isinstance(value, int | float) and m_high > m_low
            else 0.5
        )
        colour = ORANGE if best else _blend(0.25 + 0.75 * share)
        segments, current = [], []
        for p in points:
            if p is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(p)
        if current:
            segments.append(current)
        # a value between two missing ones is a dot (a zero-length segment, round caps)
        d = " ".join(
            "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in seg)
            if len(seg) > 1
            else f"M{seg[0][0]:.1f},{seg[0][1]:.1f} h0.01"
            for seg in segments
        )
        shown = ", ".join(
            f"{n}={fmt(v) if isinstance(v, float) else v}"
            for n, v in zip(names, values, strict=False)
        )
        out.append(
            f'<path class="trial{" best" if best else ""}" data-trial="{escape(trial_id)}" '
            f'd="{d}" fill="none" stroke="{colour}" stroke-width="{3.5 if best else 1.8}" '
            'stroke-linecap="round" '
            f'stroke-opacity="{1 if best else 0.85}"><title>trial {escape(trial_id)}'
            f"{' (best)' if best else ''}: {escape(shown)}</title></path>"
        )
    out.append("</svg>")
    return "".join(out)


class _Column:
    """The scale of one parallel-coordinates axis: linear, log or categorical."""

    def __init__(self, values: Sequence[float | str], log: bool, bottom: float, top: float):
        self.bottom, self.top = bottom, top
        self.categories = sorted({str(v) for v in values if isinstance(v, str)})
        numbers = [float(v) for v in values if not isinstance(v, str)]
        self.log = log and bool(numbers) and min(numbers) > 0
        if self.log:
            numbers = [math.log10(v) for v in numbers]
        self.axis = Axis(min(numbers or [0.0]), max(numbers or [1.0]), bottom, top)

    def __call__(self, value: float | str) -> float:
        if isinstance(value, str):
            if value not in self.categories:
                return self.bottom
            step = (self.bottom - self.top) / max(1, len(self.categories))
            return self.bottom - (self.categories.index(value) + 0.5) * step
        v = math.log10(value) if self.log and value > 0 else float(value)
        return self.axis(v)

    def ticks(self) -> list[tuple[float, str]]:
        if self.categories:
            return [(self(c), _short(c, 10)) for c in self.categories]
        if self.log:
            low, high = 10**self.axis.low, 10**self.axis.high
            values = [
                m * 10.0**k
                for k in range(math.floor(self.axis.low), math.ceil(self.axis.high) + 1)
                for m in (1, 2, 5)
                if low <= m * 10.0**k <= high
            ]
            if len(values) < 2:
                values = [low * (high / low) ** (i / 4) for i in range(5)]
            return [(self.axis(math.log10(v)), f"{v:.3g}") for v in values]
        return self.axis.ticks()


def _column_scale(values: Sequence[float | str], log: bool, bottom: float, top: float) -> _Column:
    return _Column(values, log, bottom, top)
