"""Server-side SVG charts: what a reader of the dashboard sees in the axis labels and bar tooltips."""

import re

from portal import charts, figures


def axis_labels(svg):
    return re.findall(r'class="axis">([^<]*)</text>', svg)


def test_each_bar_carries_its_exact_figure_and_none_draws_no_bar():
    svg = charts.bar_chart([("Nov 24", 1_500_000), ("Nov 25", None), ("Nov 26", 0)], "Bytes", fmt=figures.human_bytes)
    assert svg.count("<rect") == 2
    assert f"Nov 24: {figures.human_bytes(1_500_000)}</title>" in svg
    assert "Nov 25:" not in svg


def test_an_empty_range_says_so_and_never_labels_an_axis_tick_wrongly():
    svg = charts.bar_chart([("Nov 24", 0), ("Nov 25", 0)], "Bytes", fmt=figures.human_bytes)
    assert "Nothing counted in this range yet" in svg
    ticks = [label for label in axis_labels(svg) if label.endswith("B")]
    # The scale is 0..1 B: half of it has no byte label of its own, so only the two ends are labelled.
    assert ticks == [figures.human_bytes(0), figures.human_bytes(1)]


def test_labels_are_escaped():
    svg = charts.bar_chart([("<script>", 3)], "a & b")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg


def test_a_middle_tick_is_labelled_only_when_the_label_is_exact():
    five_bytes = axis_labels(charts.bar_chart([("Nov 24", 5)], "Bytes", fmt=figures.human_bytes))
    assert [label for label in five_bytes if label.endswith("B")] == [figures.human_bytes(0), figures.human_bytes(5)]
    percent = axis_labels(charts.bar_chart([("Nov 24", 0.8)], "Hit rate", fmt=lambda v: f"{v:.1%}"))
    assert percent[:3] == ["0.0%", "50.0%", "100.0%"]
