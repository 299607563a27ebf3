"""A queue report as a picture: offered, answered and abandoned per bucket as bars, and the
service level as a line on its own axis (matplotlib, no display needed); PNG or SVG by the
file's suffix. The same figures are the report's JSON rows, for the console's charts."""

from __future__ import annotations

from datetime import UTC, datetime
from math import nan
from pathlib import Path

from matplotlib.figure import Figure

from records.reports import By, QueueReport

FORMATS = (".png", ".svg")


def draw(report: QueueReport, path: Path) -> None:
    """Write ``report``'s chart to ``path`` (``.png`` or ``.svg``)."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: a chart is a .png or .svg file")
    labels = [
        datetime.fromtimestamp(row.start, UTC).strftime(
            "%m-%d %H:00" if report.by is By.HOUR else "%Y-%m-%d"
        )
        for row in report.rows
    ]
    places = range(len(report.rows))
    # A bare Figure: no pyplot state, no window, safe beside other threads.
    figure = Figure(figsize=(max(6.0, 0.35 * len(labels) + 2), 4.5))
    bars = figure.subplots()
    width = 0.27
    for offset, name, color in (
        (-width, "offered", "#4c72b0"),
        (0.0, "answered", "#55a868"),
        (width, "abandoned", "#c44e52"),
    ):
        values = [getattr(row, name) for row in report.rows]
        bars.bar([p + offset for p in places], values, width, label=name, color=color)
    bars.set_ylabel("calls")
    bars.set_xticks(list(places), labels, rotation=60, ha="right", fontsize=7)
    level = bars.twinx()
    level.plot(
        list(places),
        [nan if row.service_level_pct is None else row.service_level_pct for row in report.rows],
        color="#333333",
        marker=".",
        label="service level %",
    )
    level.set_ylim(0, 105)
    level.set_ylabel("service level %")
    handles = bars.get_legend_handles_labels()[0] + level.get_legend_handles_labels()[0]
    bars.legend(handles=handles, loc="upper left", fontsize=8)
    bars.set_title(f"queue {report.queue} (UTC)")
    figure.tight_layout()
    figure.savefig(path)
