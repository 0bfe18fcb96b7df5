"""Server-side SVG charts (no JavaScript, no CDN): bars per day, and a line for curves.

Pure functions of plain numbers; every label is escaped. Each bar and point carries a
<title> so hovering shows the exact figure.
"""

import math
from html import escape

WIDTH, HEIGHT = 760, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 36, 14, 28


def _nice_max(value):
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _exact_label(fmt, value):
    """fmt(value), or None where the formatter would round it: half of a 5 B scale must not read "2 B"."""
    label = fmt(value)
    if value != int(value) and label in (fmt(math.floor(value)), fmt(math.ceil(value))):
        return None
    return label


def _frame(title, y_max, fmt, x_labels, plot_width):
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    plot_height = HEIGHT - TOP - BOTTOM
    for fraction in (0, 0.5, 1):
        y = TOP + plot_height * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        tick = _exact_label(fmt, y_max * fraction)
        if tick is None:
            continue  # a wrong label is worse than none
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(tick)}</text>')
    for x, label in x_labels:
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="axis">{escape(label)}</text>')
    return parts


def _x_labels(labels, position, count=6):
    if not labels:
        return []
    step = max(1, (len(labels) + count - 1) // count)
    picked = list(range(0, len(labels), step))
    if picked[-1] != len(labels) - 1 and len(labels) - 1 - picked[-1] >= step / 2:
        picked.append(len(labels) - 1)
    return [(position(i), labels[i]) for i in picked]


def bar_chart(points, title, fmt=str, label_fmt=str, css_class="bar"):
    """points: [(x_label, value or None)] in order. None draws nothing (no data, not zero)."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    values = [v for _, v in points if v is not None]
    y_max = _nice_max(max(values, default=0))
    slot = plot_width / max(1, len(points))
    bar = max(1.0, slot * 0.8)
    labels = [label for label, _ in points]
    parts = _frame(title, y_max, fmt, _x_labels(labels, lambda i: LEFT + slot * (i + 0.5)), plot_width)
    for index, (label, value) in enumerate(points):
        if value is None:
            continue
        height = plot_height * (value / y_max) if y_max else 0
        x = LEFT + slot * index + (slot - bar) / 2
        y = TOP + plot_height - height
        parts.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{max(height, 0):.2f}" class="{css_class}">'
            f"<title>{escape(label_fmt(label))}: {escape(fmt(value))}</title></rect>"
        )
    if not any(values):
        parts.append(
            f'<text x="{LEFT + plot_width / 2:.1f}" y="{TOP + plot_height / 2:.1f}" text-anchor="middle"'
            ' class="empty">Nothing counted in this range yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series, title, fmt=str, x_fmt=str, y_max=None):
    """series: [(name, [(x, y), ...] with numeric x ascending, css class)], e.g. hit ratio by cache size."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    points_all = [point for _, points, _ in series for point in points]
    if not points_all:
        return ""
    xs = sorted({x for x, _ in points_all})
    x_min, x_max = xs[0], xs[-1]
    y_max = y_max or _nice_max(max(y for _, y in points_all))
    # Cache sizes are usually log-spaced: a log axis keeps the small sizes readable.
    scale = math.log10 if x_min > 0 and x_max / x_min >= 50 else (lambda x: x)
    low, span = scale(x_min), (scale(x_max) - scale(x_min)) or 1

    def position(x):
        return LEFT + plot_width * (scale(x) - low) / span

    def height(y):
        return TOP + plot_height * (1 - y / y_max)

    labels = _x_labels([x_fmt(x) for x in xs], lambda i: position(xs[i]))
    parts = _frame(title, y_max, fmt, labels, plot_width)
    for index, (name, points, css_class) in enumerate(series):
        coords = " ".join(f"{position(x):.2f},{height(y):.2f}" for x, y in points)
        parts.append(f'<polyline points="{coords}" class="line {escape(css_class)}" fill="none"/>')
        step = max(1, len(points) // 40)
        for x, y in points[::step]:
            parts.append(
                f'<circle cx="{position(x):.2f}" cy="{height(y):.2f}" r="2.5" class="dot {escape(css_class)}">'
                f"<title>{escape(name)} at {escape(x_fmt(x))}: {escape(fmt(y))}</title></circle>"
            )
        parts.append(
            f'<text x="{LEFT + 8}" y="{TOP + 12 + 14 * index}" class="legend {escape(css_class)}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
