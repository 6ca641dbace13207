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

# The legend sits on its own row under the title, read left to right from the plot's edge. Each
# label starts a fixed gap after its swatch, so the two never touch whatever the font; only the
# room a label takes is estimated, generously, to space one entry from the next.
LEGEND_HEIGHT = 20
LEGEND_SWATCH = 10
LEGEND_LABEL_GAP = 5
LEGEND_ENTRY_GAP = 16
# wider than any lower-case letter or digit of 12 px DejaVu Sans or Arial (m: 0.97 em is the
# exception; a short label has slack in the entry gap)
LEGEND_CHAR_WIDTH = 0.8 * 12

NOTE_LINE = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def stack_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _opacity(index: int) -> float:
    return SERIES_OPACITY[index % len(SERIES_OPACITY)]


def legend(series: Sequence[Series], y: float) -> list[str]:
    parts = []
    x = float(LABEL_WIDTH)
    for index, one in enumerate(series):
        label_x = x + LEGEND_SWATCH + LEGEND_LABEL_GAP
        parts.append(f'<rect class="legend-swatch" x="{x:.1f}" y="{y:.1f}" '
                     f'width="{LEGEND_SWATCH}" height="{LEGEND_SWATCH}" fill="#555" '
                     f'fill-opacity="{_opacity(index)}"/>')
        parts.append(f'<text class="legend" x="{label_x:.1f}" y="{y + LEGEND_SWATCH - 1:.1f}">'
                     f'{escape(one.name)}</text>')
        x = label_x + LEGEND_CHAR_WIDTH * len(one.name) + LEGEND_ENTRY_GAP
    return parts


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
              fmt: Callable[[float], str], missing: str = "no data",
              notes: Sequence[str] = ()) -> str:
    """One group of bars per label (a stack), one bar per series, scaled to the largest value.

    A label with no value in any series gets one `missing` line instead of one per series;
    `notes` are lines under the plot (what a marked label means).
    """
    values = [v for s in series for v in s.values if v is not None]
    top = max(values) if values else 0.0
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    full_group = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    empty = [all(s.values[row] is None for s in series) for row in range(len(labels))]
    groups = [BAR_HEIGHT if none else full_group for none in empty]
    plot_top = TOP + (LEGEND_HEIGHT if len(series) > 1 else 0)
    plot_bottom = plot_top + sum(groups) + GROUP_GAP * (len(labels) - 1)
    height = plot_bottom + BOTTOM + NOTE_LINE * len(notes)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="0" y="18" class="chart-title">{escape(title)}</text>',
    ]
    if len(series) > 1:
        parts += legend(series, TOP - 12)
    y = plot_top
    for row, label in enumerate(labels):
        colour = stack_colour(row)
        group = groups[row]
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + group / 2 + 5:.1f}" '
                     f'text-anchor="end" class="label">{escape(label)}</text>')
        if empty[row]:
            parts.append(f'<text x="{LABEL_WIDTH + 4}" y="{y + 14}" class="missing">'
                         f'{escape(missing)}</text>')
            y += group + GROUP_GAP
            continue
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
                f'height="{BAR_HEIGHT}" fill="{colour}" fill-opacity="{_opacity(index)}">'
                f'<title>{escape(label)} {escape(one.name)}: {escape(fmt(value))}</title></rect>')
            parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{bar_y + 14}" '
                         f'class="value">{escape(fmt(value))}</text>')
        y += group + GROUP_GAP
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="{plot_top - 6}" x2="{LABEL_WIDTH}" '
                 f'y2="{plot_bottom + 6}" stroke="#888" stroke-width="1"/>')
    for number, note in enumerate(notes):
        # its own class: the page's `.note` rule would size it for HTML text
        parts.append(f'<text x="0" y="{plot_bottom + BOTTOM + 8 + NOTE_LINE * number}" '
                     f'class="chart-note" font-size="12" fill="#57606a">{escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
