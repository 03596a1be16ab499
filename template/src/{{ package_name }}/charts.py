"""Charts and pages a person reads: inline SVG (pygal) in one HTML file that needs no network.

pygal draws the charts; its scripts (the tooltips' is fetched from a CDN by default) and its
comments (links to its site) are left out: a page opens offline and holds no http(s) resource.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from pygal.graph.graph import Graph
from pygal.style import DefaultStyle

_UNWANTED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.DOTALL)
_CHART_ID = re.compile(r"chart-[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
_OFFLINE: dict[str, Any] = {
    "js": [],  # no tooltip script from a CDN
    "disable_xml_declaration": True,  # an <svg> element to put in the page
    "style": DefaultStyle,
    "width": 640,
    "height": 420,
    "show_dots": False,
    "truncate_legend": -1,
}

Point = tuple[float, float]


@dataclass(frozen=True)
class Chart:
    """One figure of a page: its title and its markup (an inline SVG, or an HTML table)."""

    title: str
    markup: str


def _svg(chart: Graph) -> str:
    return _UNWANTED.sub("", chart.render(is_unicode=True))


def lines(
    title: str,
    series: Mapping[str, Sequence[Point]],
    x_title: str,
    y_title: str,
    *,
    dots: bool = False,
) -> Chart:
    """Draw an XY chart: one line per series (`dots=True`: points only, as a scatter plot)."""
    chart = pygal.XY(
        **{**_OFFLINE, "show_dots": dots},
        title=title,
        x_title=x_title,
        y_title=y_title,
        stroke=not dots,
        dots_size=2,
    )
    for name, points in series.items():
        chart.add(name, [(float(x), float(y)) for x, y in points])
    return Chart(title, _svg(chart))


def histogram(title: str, series: Mapping[str, Sequence[tuple[float, float, float]]]) -> Chart:
    """Draw overlaid histograms: per series, `(share, start, end)` bars."""
    chart = pygal.Histogram(**_OFFLINE, title=title, y_title="share of rows", fill=False)
    for name, bars in series.items():
        chart.add(name, [(float(h), float(a), float(b)) for h, a, b in bars])
    return Chart(title, _svg(chart))


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> Chart:
    """Draw grouped bars: one bar per label and series."""
    chart = pygal.Bar(**_OFFLINE, title=title, y_title="share of rows", x_label_rotation=30)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, [float(value) for value in values])
    return Chart(title, _svg(chart))


def heatmap(title: str, labels: Sequence[str], counts: Sequence[Sequence[int]]) -> Chart:
    """Draw a confusion matrix as a table whose cells are shaded by their share of the row."""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    body = []
    for label, row in zip(labels, counts, strict=True):
        total = sum(row) or 1
        cells = "".join(
            f'<td style="background: rgba(31, 119, 180, {count / total:.2f})">{count}</td>'
            for count in row
        )
        body.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    markup = (
        f'<table class="heatmap" title="{html.escape(title)}">'
        f"<tr><th>actual \\ predicted</th>{head}</tr>{''.join(body)}</table>"
    )
    return Chart(title, markup)


def table(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    """Return an HTML table of plain values (numbers shown with 4 significant digits)."""

    def cell(value: object) -> str:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return html.escape(text)

    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join(f"<tr>{''.join(f'<td>{cell(v)}</td>' for v in row)}</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: Sequence[tuple[str, str]], charts: Sequence[Chart]) -> str:
    """Return a whole HTML page: `(heading, markup)` sections, then one figure per chart."""
    parts = [f"<h2>{html.escape(heading)}</h2>{markup}" for heading, markup in sections]
    figures = [
        f"<figure><figcaption>{html.escape(c.title)}</figcaption>{c.markup}</figure>"
        for c in charts
    ]
    return _numbered(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(parts)}"
        f'<div class="charts">{"".join(figures)}</div></body></html>\n'
    )


def _numbered(markup: str) -> str:
    """Replace pygal's random chart UUIDs by numbers: the same run writes the same page."""
    ids: dict[str, str] = {}
    return _CHART_ID.sub(lambda found: ids.setdefault(found[0], f"chart-{len(ids) + 1}"), markup)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}"
    ".charts{display:flex;flex-wrap:wrap;gap:1rem}"
    "figure{margin:0;width:640px}figcaption{font-weight:600}"
    ".refused{color:#b00}.promoted{color:#070}"
)
