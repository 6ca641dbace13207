"""Horizontal bar charts as inline SVG: no script, no web font, nothing fetched, so a report opens
offline and prints as it shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# one colour per stack, the same in every chart; chosen to stay apart for colour-blind readers
PALETTE = ("#1f77b4", "#e8710a", "#2ca02c", "#9467bd", "#d62728", "#17becf", "#8c564b")
# series drawn inside one stack's group (latency p50, p99): full colour, then lighter
SERIES_OPACITY = (1.0, 0.55, 0.35, 0.2)

WIDTH = 560
LABEL_WIDTH = 130
VALUE_WIDTH = 96
BAR_HEIGHT = 18
BAR_GAP = 4
GROUP_GAP = 14
TOP = 40
BOTTOM = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def stack_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
              fmt: Callable[[float], str], missing: str = "no data") -> str:
    """One group of bars per label (a stack), one bar per series, scaled to the largest value."""
    values = [v for s in series for v in s.values if v is not None]
    top = max(values) if values else 0.0
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    group = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    height = TOP + len(labels) * (group + GROUP_GAP) - GROUP_GAP + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="0" y="18" class="chart-title">{escape(title)}</text>',
    ]
    if len(series) > 1:
        x = WIDTH - 8
        for index, one in reversed(list(enumerate(series))):
            parts.append(f'<text x="{x}" y="18" text-anchor="end" class="legend">'
                         f'{escape(one.name)}</text>')
            x -= 8 * len(one.name) + 10
            parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="#555" '
                         f'fill-opacity="{SERIES_OPACITY[index % len(SERIES_OPACITY)]}"/>')
            x -= 10
    y = TOP
    for row, label in enumerate(labels):
        colour = stack_colour(row)
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + group / 2 + 5:.1f}" '
                     f'text-anchor="end" class="label">{escape(label)}</text>')
        for index, one in enumerate(series):
            value = one.values[row]
            bar_y = y + index * (BAR_HEIGHT + BAR_GAP)
            if value is None:
                parts.append(f'<text x="{LABEL_WIDTH + 4}" y="{bar_y + 14}" class="missing">'
                             f'{escape(missing)}</text>')
                continue
            length = plot * value / top if top > 0 else 0
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{bar_y}" width="{length:.1f}" '
                f'height="{BAR_HEIGHT}" fill="{colour}" '
                f'fill-opacity="{SERIES_OPACITY[index % len(SERIES_OPACITY)]}">'
                f'<title>{escape(label)} {escape(one.name)}: {escape(fmt(value))}</title></rect>')
            parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{bar_y + 14}" '
                         f'class="value">{escape(fmt(value))}</text>')
        y += group + GROUP_GAP
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="{TOP - 6}" x2="{LABEL_WIDTH}" '
                 f'y2="{height - BOTTOM + 6}" stroke="#888" stroke-width="1"/>')
    parts.append("</svg>")
    return "\n".join(parts)
