"""Charts of the trend pages, drawn with matplotlib (Agg backend: files only, no display).

* `timeline_chart`: one trend, one bar per period (its new articles), coloured by the trend's
  status in that period, and its popularity as a line on a second axis.
* `radar_chart`: trends by STEEP+V sector and ring, with the zalando/tech-radar markers
  (● unchanged, ▲ moved in, ▼ moved out, ★ new) and a numbered legend beside it.
* `overview_chart`: small multiples of the most notable trends' timelines.

Every label comes from articles or a model: `label()` strips control characters and escapes
`$`, which matplotlib would otherwise read as mathematics (a malformed formula raises). SVG
text is drawn as paths (matplotlib's default `svg.fonttype`), so no text reaches the SVG source.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.projections.polar import PolarAxes
from matplotlib.transforms import offset_copy

from horizonscan.models import RadarView, TrendView

ChartFormat = Literal["svg", "png"]
STATUS_COLOURS = {
    "noise": "#b8b8b8",
    "weak": "#8ab6d6",
    "emerging": "#f28e2b",
    "strong": "#2e7d32",
    "fading": "#8d6e63",
}
RING_COLOURS = {**STATUS_COLOURS, "H1": "#2e7d32", "H2": "#1f77b4", "H3": "#9467bd"}
MARKERS = {0: "o", 1: "^", -1: "v", 2: "*"}
MARKER_NAMES = {0: "no change", 1: "moved in", -1: "moved out", 2: "new"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
FONT = {"family": "DejaVu Sans"}


def label(text: str | None, limit: int = 60) -> str:
    """A safe, one-line, bounded label (see module docstring)."""
    clean = _CONTROL.sub("", " ".join((text or "").split()))
    if len(clean) > limit:
        clean = clean[: limit - 1].rstrip() + "…"
    return clean.replace("\\", "\\\\").replace("$", r"\$")


def render(fig: Figure, fmt: ChartFormat) -> bytes:
    """The figure as PNG (110 dpi) or SVG bytes; the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight", metadata=_metadata(fmt))
    finally:
        plt.close(fig)
    return buf.getvalue()


def save(data: bytes, path: Path) -> Path:
    """Write chart bytes unless the file already holds them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_file() and path.read_bytes() == data):
        path.write_bytes(data)
    return path


def _metadata(fmt: ChartFormat) -> dict[str, Any]:
    # No creation date: an unchanged chart is byte-identical and is not rewritten.
    return {"Date": None} if fmt == "svg" else {"Software": None}


def _period_axis(ax: Any, starts: Sequence[date], width: int, *, ticks: int = 7) -> None:
    span = (starts[-1] - starts[0]).days if len(starts) > 1 else width
    locators: Any = mdates  # matplotlib.dates is untyped
    if span > 400:
        ax.xaxis.set_major_locator(locators.MonthLocator(bymonth=(1, 4, 7, 10)))
        ax.xaxis.set_major_formatter(locators.DateFormatter("%b %Y"))
    elif span > 120:
        ax.xaxis.set_major_locator(locators.MonthLocator(interval=max(1, math.ceil(span / 30 / ticks))))
        ax.xaxis.set_major_formatter(locators.DateFormatter("%b\n%Y"))
    else:
        weeks = max(1, math.ceil(span / 7 / ticks))
        ax.xaxis.set_major_locator(locators.WeekdayLocator(byweekday=0, interval=weeks))
        ax.xaxis.set_major_formatter(locators.DateFormatter("%d %b\n%Y"))
    ax.set_xlim(starts[0] - timedelta(days=width), starts[-1] + timedelta(days=width * 1.5))


def _timeline_axes(ax: Any, trend: TrendView, period_days: int, *, compact: bool = False) -> Any:
    """Bars of new articles per period coloured by status, a strip under them with the status of
    every period (quiet ones too: that is where fading shows), popularity on a twin axis."""
    periods = trend.periods
    starts = [p.start for p in periods]
    centres = [s + timedelta(days=period_days / 2) for s in starts]
    colours = [STATUS_COLOURS[p.status or "noise"] for p in periods]
    top = max([p.documents for p in periods] + [1]) * 1.25
    strip = top * 0.07
    ax.bar(centres, [p.documents for p in periods], width=period_days * 0.8, color=colours, zorder=2)
    ax.bar(centres, [strip] * len(periods), bottom=-strip * 1.15, width=period_days, color=colours, zorder=2)
    ax.axhline(0, color="#999999", linewidth=0.6, zorder=3)
    ax.set_ylim(-strip * 1.25, top)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= top])
    ax.grid(axis="y", color="#e6e6e6", zorder=0)
    ax.spines[["top"]].set_visible(False)
    twin = ax.twinx()
    twin.plot(centres, [p.popularity for p in periods], color="#333333", linewidth=1.4, zorder=3)
    pop_top = max([p.popularity for p in periods] + [1]) * 1.15
    twin.set_ylim(ax.get_ylim()[0] / top * pop_top, pop_top)
    twin.set_yticks([t for t in twin.get_yticks() if 0 <= t <= pop_top])
    twin.spines[["top"]].set_visible(False)
    _period_axis(ax, starts, period_days, ticks=4 if compact else 8)
    if not compact:
        ax.set_ylabel("new articles per period (bars)")
        twin.set_ylabel("popularity (line)")
    else:
        ax.tick_params(labelsize=7)
        twin.tick_params(labelsize=7)
    return twin


def timeline_chart(trend: TrendView, path: Path, *, period_days: int = 7, fmt: ChartFormat = "svg") -> Path:
    return save(timeline_bytes(trend, period_days=period_days, fmt=fmt), path)


def timeline_bytes(trend: TrendView, *, period_days: int = 7, fmt: ChartFormat = "svg") -> bytes:
    """One trend's timeline (the web app serves these bytes as they are)."""
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    _timeline_axes(ax, trend, period_days)
    ax.set_title(
        f"#{trend.id} {label(trend.name, 70)} — {trend.status}", loc="left", fontsize=11, fontweight="bold"
    )
    shown = [
        s
        for s in ("noise", "weak", "emerging", "strong", "fading")
        if any(p.status == s for p in trend.periods)
    ]
    handles: list[Artist] = [Patch(color=STATUS_COLOURS[s], label=s) for s in shown]
    handles.append(Line2D([], [], color="#333333", label="popularity"))
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=len(handles), frameon=False)
    fig.tight_layout()
    return render(fig, fmt)


def overview_chart(
    trends: Sequence[TrendView], path: Path, *, period_days: int = 7, fmt: ChartFormat = "svg"
) -> Path:
    """Small multiples, three per row, of up to 12 trends (ranked by the caller)."""
    shown = list(trends)[:12]
    cols = 3
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.3 * rows), squeeze=False)
    for ax, trend in zip(axes.flat, shown, strict=False):
        _timeline_axes(ax, trend, period_days, compact=True)
        ax.set_title(f"#{trend.id} {label(trend.name, 38)}", loc="left", fontsize=9, fontweight="bold")
        ax.text(
            0.99,
            0.97,
            trend.status,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color=STATUS_COLOURS[trend.status],
            fontweight="bold",
        )
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    handles: list[Artist] = [Patch(color=c, label=s) for s, c in STATUS_COLOURS.items()]
    handles.append(Line2D([], [], color="#333333", label="popularity"))
    fig.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if rows > 1 else 0.1, 1, 1))
    return save(render(fig, fmt), path)


def _ring_edges(n: int) -> list[float]:
    """Ring boundaries, inner first; the inner ring gets a little more room (as on tech radars)."""
    return [0.0] + [0.28 + 0.72 * (i / n) for i in range(1, n + 1)]


def radar_chart(view: RadarView, path: Path, *, fmt: ChartFormat = "svg") -> Path:
    return save(radar_bytes(view, fmt=fmt), path)


def radar_bytes(view: RadarView, *, fmt: ChartFormat = "svg") -> bytes:
    """The radar and its numbered legend (see module docstring)."""
    sectors, rings = view.sectors, view.rings
    fig = plt.figure(figsize=(16, 9.5))
    ax = cast(PolarAxes, fig.add_axes((0.05, 0.07, 0.49, 0.82), projection="polar"))
    ax.set_theta_offset(math.pi / 2)
    ax.set_theta_direction(-1)
    width = 2 * math.pi / len(sectors)
    edges = _ring_edges(len(rings))
    for i, ring in enumerate(rings):
        ax.bar(
            [j * width + width / 2 for j in range(len(sectors))],
            [edges[i + 1] - edges[i]] * len(sectors),
            width=width,
            bottom=edges[i],
            color=RING_COLOURS.get(ring, "#cccccc"),
            alpha=0.08 + 0.04 * i,
            edgecolor="white",
            linewidth=2,
        )
        # Ring names on the first sector boundary, at each ring's outer edge (markers sit mid-ring).
        ax.text(
            0,
            edges[i + 1] - 0.035,
            ring.upper(),
            fontsize=7.5,
            color="#444444",
            ha="center",
            va="center",
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=5,
        )
    for j in range(len(sectors)):
        ax.plot([j * width, j * width], [0, 1], color="#999999", linewidth=1)
    for j, sector in enumerate(sectors):
        theta = j * width + width / 2
        x = math.sin(theta)  # clockwise from the top: positive on the right-hand side
        ha = "left" if x > 0.3 else "right" if x < -0.3 else "center"
        ax.text(theta, 1.06, sector.upper(), ha=ha, va="center", fontsize=11, fontweight="bold")
    cells: dict[tuple[int, int], list[int]] = {}
    for k, e in enumerate(view.entries):
        cells.setdefault((sectors.index(e.sector), rings.index(e.ring)), []).append(k)
    for (j, i), members in cells.items():
        inner, outer = edges[i], edges[i + 1]
        n = len(members)
        layers = max(1, min(3, math.ceil(n / 6)))
        per_layer = math.ceil(n / layers)
        for pos, k in enumerate(members):
            layer, slot = divmod(pos, per_layer)
            count = min(per_layer, n - layer * per_layer)
            theta = j * width + width * (slot + 0.5 + (0.25 if layer % 2 else 0)) / (count + 0.25)
            r = inner + (outer - inner) * (layer + 0.5) / layers
            if i == 0:
                r = max(r, 0.16)
            e = view.entries[k]
            colour = RING_COLOURS.get(e.ring, "#555555")
            size = {2: 720, 1: 420, -1: 420}.get(e.moved, 260)
            ax.scatter(
                [theta], [r], s=size, marker=MARKERS[e.moved], color=colour, edgecolor="white", zorder=3
            )
            # A triangle's middle sits off its centre: nudge the number into it, on screen.
            nudge = {1: -2.5, -1: 2.5}.get(e.moved, 0.0)
            ax.text(
                theta,
                r,
                str(e.number),
                transform=offset_copy(ax.transData, fig=fig, y=nudge, units="points"),
                ha="center",
                va="center",
                fontsize=7,
                color="white",
                fontweight="bold",
                zorder=4,
            )
    ax.set_ylim(0, 1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines["polar"].set_visible(False)
    ax.grid(False)
    fig.text(0.02, 0.97, f"Trend radar — {view.period}", fontsize=15, fontweight="bold")
    fig.text(
        0.02,
        0.945,
        f"rings by {view.ring_by}; as of {view.as_of.date().isoformat()}",
        fontsize=9,
        color="#555555",
    )
    marks = [
        Line2D([], [], marker=MARKERS[m], linestyle="", color="#555555", markersize=9, label=MARKER_NAMES[m])
        for m in (2, 1, -1, 0)
    ]
    ax.legend(
        handles=marks, loc="lower left", bbox_to_anchor=(-0.02, -0.06), ncols=4, frameon=False, fontsize=9
    )
    _radar_legend(fig, view)
    return render(fig, fmt)


def _radar_legend(fig: Figure, view: RadarView) -> None:
    """Numbered entries, sector by sector, beside the radar (two columns past 46 lines)."""
    used = {e.sector for e in view.entries}
    columns = 1 if len(view.entries) + len(used) <= 46 else 2
    limit = 44 if columns == 1 else 30
    lines: list[tuple[str, str, bool]] = []  # text, colour, heading
    for sector in view.sectors:
        entries = [e for e in view.entries if e.sector == sector]
        if not entries:
            continue
        lines.append((sector.upper(), "#222222", True))
        for e in entries:
            mark = {2: "★", 1: "▲", -1: "▼", 0: ""}[e.moved]
            lines.append(
                (
                    f"{e.number:>2}. {label(e.name, limit)} {mark}".rstrip(),
                    RING_COLOURS.get(e.ring, "#555"),
                    False,
                )
            )
    if not lines:
        fig.text(0.69, 0.88, "No trend above noise yet.", fontsize=11)
        return
    per_col = math.ceil(len(lines) / columns)
    step = min(0.034, 0.86 / per_col)
    for idx, (text, colour, heading) in enumerate(lines):
        col, row = divmod(idx, per_col)
        fig.text(
            0.69 + 0.16 * col,
            0.9 - row * step,
            text,
            fontsize=9.5 if heading else 8.5,
            color=colour,
            fontweight="bold" if heading else "normal",
            va="top",
        )
