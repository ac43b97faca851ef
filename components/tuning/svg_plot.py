"""Self-contained SVG scatter plots (no scripts, no external assets) for the trials report.

The x axis is linear, logarithmic or categorical; points carry a tooltip (`<title>`), one may
be highlighted, a point without a y value is drawn as a cross on the bottom edge, and an
optional step line joins values along a categorical axis (the best value so far).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

SCALES = ("linear", "integer", "log", "category")

WIDTH = 560
HEIGHT = 340
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 18, 34, 58
_MAX_TICK_LABELS = 14
_LABEL_CHARS = 14

POINT_COLOR = "#1a73e8"
BEST_COLOR = "#e8710a"
MISSING_COLOR = "#9aa0a6"
LINE_COLOR = "#188038"


@dataclass(frozen=True)
class Point:
    """One trial on a plot: `y` None when the trial has no value."""

    x: float | str
    y: float | None
    tooltip: str
    highlight: bool = False


def fmt(value: float) -> str:
    """A number in at most 6 significant digits (`0.001`, `64`, `1e-05`)."""
    if math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def nice_ticks(low: float, high: float, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) within [low, high]; with
    `integer`, whole numbers only."""
    if not high > low:
        return [low]
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw * 0.8)
    if integer:
        step = max(1.0, step)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= high + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def _padded(low: float, high: float, fraction: float = 0.06) -> tuple[float, float]:
    if high == low:
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    pad = (high - low) * fraction
    return low - pad, high + pad


class _Linear:
    def __init__(self, values: Sequence[float], start: float, end: float, integer: bool = False):
        self.low, self.high = _padded(min(values), max(values))
        self.start, self.end = start, end
        self.integer = integer

    def pos(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        return [
            (self.pos(t), fmt(t)) for t in nice_ticks(self.low, self.high, integer=self.integer)
        ]


class _Log:
    def __init__(self, values: Sequence[float], start: float, end: float):
        logs = [math.log10(v) for v in values]
        self.low, self.high = _padded(min(logs), max(logs), 0.05)
        self.start, self.end = start, end

    def pos(self, value: float) -> float:
        ratio = (math.log10(value) - self.low) / (self.high - self.low)
        return self.start + ratio * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        low, high = self.low, self.high
        if high - low >= 1.0:
            decades = list(range(math.ceil(low), math.floor(high) + 1))
            every = max(1, math.ceil(len(decades) / 8))
            values = [10.0**d for d in decades[::every]]
        else:
            values = [t for t in nice_ticks(10**low, 10**high) if t > 0]
        return [(self.pos(v), fmt(v)) for v in values]


class _Category:
    def __init__(self, categories: Sequence[str], start: float, end: float):
        self.categories = list(categories)
        self.start = start
        self.band = (end - start) / max(1, len(self.categories))

    def pos(self, value: str, k: int = 0, n: int = 1) -> float:
        centre = self.start + (self.categories.index(value) + 0.5) * self.band
        if n <= 1:
            return centre
        step = min(6.0, self.band * 0.7 / n)
        offset = (k + 1) // 2 * (1 if k % 2 else -1)
        return centre + step * offset

    def ticks(self) -> list[tuple[float, str]]:
        every = max(1, math.ceil(len(self.categories) / _MAX_TICK_LABELS))
        return [(self.pos(c), _short(c)) for c in self.categories[::every]]


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _spread(points: Sequence[Point]) -> list[tuple[int, int]]:
    """(index among the points sharing its category, how many share it), per point."""
    totals: dict[object, int] = {}
    for p in points:
        totals[p.x] = totals.get(p.x, 0) + 1
    seen: dict[object, int] = {}
    out = []
    for p in points:
        out.append((seen.get(p.x, 0), totals[p.x]))
        seen[p.x] = seen.get(p.x, 0) + 1
    return out


def scatter(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_scale: str = "linear",
    categories: Sequence[str] = (),
    step_line: Sequence[tuple[str, float]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """An `<svg>` element plotting `points`.

    Args:
        points: The points; for `x_scale="category"` each `x` is one of `categories`,
            otherwise a number (> 0 on a log axis). Points sharing a category are spread
            sideways around its centre, in list order.
        title: Drawn above the plot.
        x_label: Name of the x axis.
        y_label: Name of the y axis.
        x_scale: `linear`, `integer` (linear, whole-number ticks), `log` or `category`.
        categories: The categories in axis order (`category` scale only).
        step_line: `(category, y)` pairs joined by a step line (`category` scale only).
        width: Width in pixels (the viewBox; the SVG scales down to fit).
        height: Height in pixels.

    Raises:
        ValueError: an unknown scale, a category not listed or a non-positive log value.
    """
    if x_scale not in SCALES:
        raise ValueError(f"x_scale must be one of {', '.join(SCALES)}, got {x_scale!r}")
    x0, x1, y0, y1 = _LEFT, width - _RIGHT, height - _BOTTOM, _TOP
    valued = [p.y for p in points if p.y is not None and math.isfinite(p.y)]
    valued += [y for _, y in step_line if math.isfinite(y)]
    y_axis = _Linear(valued or [0.0, 1.0], y0, y1)
    if x_scale == "category":
        unknown = [p.x for p in points if p.x not in categories]
        if unknown:
            raise ValueError(f"points on categories {unknown!r} not in {list(categories)!r}")
        x_axis: _Linear | _Log | _Category = _Category(categories, x0, x1)
    else:
        xs = [float(p.x) for p in points]
        if x_scale == "log" and any(x <= 0 for x in xs):
            raise ValueError(f"a log axis needs x > 0, got {min(xs)}")
        if x_scale == "log":
            x_axis = _Log(xs or [1.0], x0, x1)
        else:
            x_axis = _Linear(xs or [1.0], x0, x1, integer=x_scale == "integer")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{x0}" y="20" font-size="13" font-weight="600" fill="#202124">'
        f"{escape(title)}</text>",
    ]
    for y, label in y_axis.ticks():
        parts.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e8eaed"/>'
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5f6368">'
            f"{escape(label)}</text>"
        )
    rotate = x_scale == "category" and len(x_axis.ticks()) > 6
    for x, label in x_axis.ticks():
        parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}" stroke="#5f6368"/>')
        if rotate:
            parts.append(
                f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="end" fill="#5f6368" '
                f'transform="rotate(-35 {x:.1f} {y0 + 14})">{escape(label)}</text>'
            )
        else:
            parts.append(
                f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle" fill="#5f6368">'
                f"{escape(label)}</text>"
            )
    parts.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#5f6368"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#5f6368"/>'
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        f'font-size="12" fill="#202124">{escape(x_label)}</text>'
        f'<text x="16" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" font-size="12" '
        f'fill="#202124" transform="rotate(-90 16 {(y0 + y1) / 2:.1f})">{escape(y_label)}</text>'
    )
    if step_line and isinstance(x_axis, _Category):
        path = _step_path(x_axis, y_axis, step_line)
        parts.append(
            f'<path d="{path}" fill="none" stroke="{LINE_COLOR}" stroke-width="1.5" '
            'stroke-dasharray="5 3"/>'
        )
    parts.extend(_markers(points, x_axis, y_axis, y0))
    parts.append(_legend(points, bool(step_line), x1))
    parts.append("</svg>")
    return "".join(parts)


def _step_path(x_axis: _Category, y_axis: _Linear, line: Sequence[tuple[str, float]]) -> str:
    commands = []
    for i, (x, y) in enumerate(line):
        px, py = x_axis.pos(x), y_axis.pos(y)
        if i == 0:
            commands.append(f"M{px:.1f},{py:.1f}")
        else:
            commands.append(f"H{px:.1f}V{py:.1f}")
    return " ".join(commands)


def _markers(points, x_axis, y_axis, bottom: float) -> list[str]:
    spread = _spread(points) if isinstance(x_axis, _Category) else [(0, 1)] * len(points)
    ordered = sorted(zip(points, spread, strict=True), key=lambda item: item[0].highlight)
    out = []
    for point, (k, n) in ordered:
        if isinstance(x_axis, _Category):
            px = x_axis.pos(point.x, k, n)
        else:
            px = x_axis.pos(float(point.x))
        tip = f"<title>{escape(point.tooltip)}</title>"
        if point.y is None or not math.isfinite(point.y):
            py = bottom - 6
            out.append(
                f'<path d="M{px - 4:.1f},{py - 4:.1f}L{px + 4:.1f},{py + 4:.1f}'
                f'M{px - 4:.1f},{py + 4:.1f}L{px + 4:.1f},{py - 4:.1f}" '
                f'stroke="{MISSING_COLOR}" stroke-width="2">{tip}</path>'
            )
        elif point.highlight:
            out.append(
                f'<circle cx="{px:.1f}" cy="{y_axis.pos(point.y):.1f}" r="7" '
                f'fill="{BEST_COLOR}" stroke="#202124" stroke-width="1.5">{tip}</circle>'
            )
        else:
            out.append(
                f'<circle cx="{px:.1f}" cy="{y_axis.pos(point.y):.1f}" r="4.5" '
                f'fill="{POINT_COLOR}" fill-opacity="0.7" stroke="{POINT_COLOR}">{tip}</circle>'
            )
    return out


def _legend(points: Sequence[Point], has_line: bool, right: float) -> str:
    entries = []
    if any(p.highlight for p in points):
        entries.append(
            (f'<circle cx="0" cy="-4" r="5" fill="{BEST_COLOR}" stroke="#202124"/>', "best trial")
        )
    if has_line:
        entries.append(
            (
                f'<path d="M-6,-4H6" stroke="{LINE_COLOR}" stroke-width="1.5" '
                'stroke-dasharray="4 2"/>',
                "best so far",
            )
        )
    if any(p.y is None or not math.isfinite(p.y) for p in points):
        entries.append(
            (
                f'<path d="M-4,-8L4,0M-4,0L4,-8" stroke="{MISSING_COLOR}" stroke-width="2"/>',
                "no value",
            )
        )
    out = []
    x = right
    for marker, text in reversed(entries):
        x -= 12 + 6.2 * len(text) + 14
        out.append(
            f'<g transform="translate({x:.1f} 20)">{marker}'
            f'<text x="10" y="0" fill="#3c4043">{escape(text)}</text></g>'
        )
    return "".join(out)
