"""A queue report as text: an aligned table for a terminal, or CSV for a spreadsheet (JSON is
``QueueReport.to_dict``). Rows are the buckets, then the total; volunteers follow."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from records.reports import Figures, QueueReport

COLUMNS = (
    "offered", "answered", "abandoned", "short_abandoned", "service_level_pct", "asa_s",
    "aht_s", "longest_wait_s", "callbacks", "timed_out",
)  # fmt: skip


def _cells(label: str, figures: Figures) -> list[str]:
    values = figures.to_dict()
    return [label, *("" if values[c] is None else str(values[c]) for c in COLUMNS)]


def _label(report: QueueReport, figures: Figures) -> str:
    moment = datetime.fromtimestamp(figures.start, UTC)
    return moment.strftime("%Y-%m-%d %H:00" if report.by.value == "hour" else "%Y-%m-%d")


def rows(report: QueueReport) -> list[list[str]]:
    """The report's rows of cells, a header first."""
    out = [["queue " + report.queue + " (UTC)", *COLUMNS]]
    out += [_cells(_label(report, figures), figures) for figures in report.rows]
    out.append(_cells("total", report.total))
    return out


def agent_rows(report: QueueReport) -> list[list[str]]:
    """Volunteers' rows, a header first."""
    out = [["volunteer", "calls", "talk_s", "pause_s"]]
    for a in report.agents:
        pauses = " ".join(f"{reason}={seconds:g}" for reason, seconds in a.pause_s.items())
        out.append([a.agent, str(a.calls), f"{a.talk_s:g}", pauses])
    return out


def as_table(reports: Sequence[QueueReport]) -> str:
    """Aligned columns, one block per queue."""
    blocks = []
    for report in reports:
        for table in (rows(report), agent_rows(report)):
            widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
            blocks.append(
                "\n".join(
                    "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table
                )
            )
    return "\n\n".join(blocks) + "\n"


def as_csv(reports: Sequence[QueueReport]) -> str:
    """One CSV table: queue, bucket, then the figures."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["queue", "bucket", *COLUMNS])
    for report in reports:
        for row in rows(report)[1:]:
            writer.writerow([report.queue, *row])
    return out.getvalue()
