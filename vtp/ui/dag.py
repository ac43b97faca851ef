"""The graph of a run's steps as SVG: layered top to bottom (each task one layer below the
last task it waits for), ordered within a layer by the mean position of what it waits for
(two sweeps of the barycenter heuristic), boxes coloured by state with the duration, each box a
link to the step's page. Groups (conditions, loops, nested pipelines) are dashed boxes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from vtp.local.history.runs import StepView

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 190, 44, 24, 34, 16

#: Fill and border by state.
STATE_COLOURS = {
    "SUCCEEDED": ("#e6f4ea", "#188038"),
    "CACHED": ("#e4f7fb", "#12a4af"),
    "FAILED": ("#fce8e6", "#d93025"),
    "RUNNING": ("#e8f0fe", "#1a73e8"),
    "PENDING": ("#f8f9fa", "#9aa0a6"),
    "SKIPPED": ("#f1f3f4", "#9aa0a6"),
    "NOT_TRIGGERED": ("#f1f3f4", "#9aa0a6"),
    "CANCELLED": ("#fef7e0", "#e37400"),
}


@dataclass(frozen=True)
class Placed:
    step: StepView
    layer: int
    x: float
    y: float


def layers(steps: Sequence[StepView]) -> dict[str, int]:
    """Each task's layer: 0 for a task that waits for nothing, else one below its deepest
    dependency (a cycle, which a pipeline cannot have, is cut)."""
    by_path = {s.path: s for s in steps}
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(path: str) -> int:
        if path in depth:
            return depth[path]
        if path in visiting:
            return 0
        visiting.add(path)
        deps = [d for d in by_path[path].dependencies if d in by_path]
        depth[path] = 1 + max((visit(d) for d in deps), default=-1)
        visiting.discard(path)
        return depth[path]

    for s in steps:
        visit(s.path)
    return depth


def layout(steps: Sequence[StepView]) -> tuple[list[Placed], float, float]:
    """Positions of the boxes, and the width and height of the drawing."""
    depth = layers(steps)
    rows: dict[int, list[StepView]] = {}
    for s in steps:
        rows.setdefault(depth[s.path], []).append(s)
    order: dict[str, float] = {}
    for layer in sorted(rows):
        for i, s in enumerate(rows[layer]):
            order[s.path] = i
    for _ in range(2):
        for layer in sorted(rows)[1:]:
            rows[layer].sort(key=lambda s: _barycenter(s, order))
            for i, s in enumerate(rows[layer]):
                order[s.path] = i
    widest = max((len(r) for r in rows.values()), default=1)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X
    placed = []
    for layer, row in sorted(rows.items()):
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2
        for i, s in enumerate(row):
            placed.append(
                Placed(s, layer, left + i * (BOX_W + GAP_X), MARGIN + layer * (BOX_H + GAP_Y))
            )
    height = 2 * MARGIN + len(rows) * BOX_H + max(0, len(rows) - 1) * GAP_Y
    return placed, width, height


def _barycenter(step: StepView, order: dict[str, float]) -> float:
    known = [order[d] for d in step.dependencies if d in order]
    return sum(known) / len(known) if known else order.get(step.path, 0.0)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _fit(text: str, chars: int = 26) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def render(steps: Sequence[StepView], link: Callable[[StepView], str]) -> str:
    """The `<svg>` of the graph; `link(step)` gives each box's URL."""
    placed, width, height = layout(steps)
    where = {p.step.path: p for p in placed}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" data-plot="dag" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        'role="img" aria-label="graph of the run\'s steps" '
        'font-family="system-ui, sans-serif" font-size="11">',
        "<title>Steps of the run</title>",
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#80868b"/></marker>'
        "</defs>",
    ]
    for p in placed:
        for dep in p.step.dependencies:
            if dep not in where:
                continue
            q = where[dep]
            x1, y1 = q.x + BOX_W / 2, q.y + BOX_H
            x2, y2 = p.x + BOX_W / 2, p.y
            mid = (y1 + y2) / 2
            out.append(
                f'<path class="edge" data-from="{escape(dep)}" data-to="{escape(p.step.path)}" '
                f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}" '
                'fill="none" stroke="#80868b" stroke-width="1.2" marker-end="url(#arrow)"/>'
            )
    for p in placed:
        s = p.step
        fill, stroke = STATE_COLOURS.get(s.state, ("#fff", "#5f6368"))
        dash = ' stroke-dasharray="5 3"' if s.is_dag else ""
        time = _duration(s.seconds) if s.started else ""
        detail = s.state.lower().replace("_", " ") + (f" · {time}" if time else "")
        tip = f"{s.label}: {s.state}" + (f", {time}" if time else "")
        if s.error:
            tip += f"\n{s.error.splitlines()[0]}"
        out.append(
            f'<a class="node" href="{escape(link(s))}" data-step="{escape(s.path)}" '
            f'data-state="{escape(s.state)}"><title>{escape(tip)}</title>'
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
            f'<text x="{p.x + 10:.1f}" y="{p.y + 18:.1f}" fill="#202124" font-weight="600">'
            f"{escape(_fit(s.label))}</text>"
            f'<text x="{p.x + 10:.1f}" y="{p.y + 34:.1f}" fill="{stroke}">'
            f"{escape(detail)}</text></a>"
        )
    out.append("</svg>")
    return "".join(out)
