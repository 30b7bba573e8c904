"""The stats chart: cases opened and first-response time per hour or day, as PNG bytes.

Uses matplotlib's object API on the Agg canvas (no pyplot): pyplot keeps global
state and is not safe in the background threads that render charts. Both axes
start at zero so a bar or a line never looks bigger than it is, and days with no
answers are gaps, not zeros.
"""
from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.domain.stats import Report, Slot
from bot.networks import ByNetwork

NETWORK_LABEL = ByNetwork("label")
NETWORK_COLOUR = ByNetwork("colour")
OTHER_COLOURS = ("#8b5cf6", "#f59e0b", "#10b981", "#ef4444")
MEDIAN_COLOUR, P90_COLOUR, SLA_COLOUR = "#0f766e", "#b45309", "#9ca3af"


def _unit(seconds: list[float]) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever keeps the numbers readable."""
    top = max(seconds, default=0)
    if top < 120:
        return 1, "seconds"
    if top < 3 * 3600:
        return 60, "minutes"
    return 3600, "hours"


def _slot_label(report: Report, slot: Slot, index: int, total: int) -> str:
    local = report.period.local(slot.start)
    if report.period.unit == "hour":
        return f"{local:%H:%M}"
    label = f"{local:%a}\n{local:%-d %b}"
    if index == total - 1 and slot.end == report.now:
        label += "\n(so far)"
    return label


def render(report: Report, *, sla: dict[str, float] | None = None) -> bytes:
    """The chart as PNG bytes."""
    buffer = io.BytesIO()
    figure(report, sla=sla).savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def figure(report: Report, *, sla: dict[str, float] | None = None) -> Figure:
    """Two panels: stacked bars of cases opened per network, and median / 90th percentile response time.

    `sla` maps a network to its SLA in seconds, drawn as reference lines.
    """
    slots = report.slots
    period = report.period
    fig = Figure(figsize=(9, 7), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    volume, speed = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1))
    positions = list(range(len(slots)))

    networks = sorted({n for slot in slots for n in slot.by_network}, key=lambda n: (n not in NETWORK_COLOUR, n))
    extra_colours = iter(OTHER_COLOURS * 4)
    bottom = [0] * len(slots)
    for network in networks:
        heights = [slot.by_network.get(network, 0) for slot in slots]
        colour = NETWORK_COLOUR.get(network) or next(extra_colours)
        volume.bar(positions, heights, bottom=bottom, color=colour, width=0.75, label=NETWORK_LABEL.get(network, network))
        bottom = [b + h for b, h in zip(bottom, heights)]
    if len(slots) <= 31:
        for x, total in zip(positions, bottom):
            if total:
                volume.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    volume.set_ylim(bottom=0, top=max(max(bottom, default=0) * 1.2, 1))
    volume.yaxis.set_major_locator(MaxNLocator(integer=True))
    volume.set_ylabel("Cases opened")
    volume.set_title(f"Cases opened per {period.unit}", loc="left", fontsize=11)
    if networks:
        volume.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, ncols=len(networks), fontsize=9)
    else:
        volume.text(0.5, 0.5, "No cases in this period", transform=volume.transAxes, ha="center", va="center", color="#6b7280")

    medians = [slot.response.median for slot in slots]
    p90s = [slot.response.p90 for slot in slots]
    scale, unit = _unit([v for v in medians + p90s if v is not None] + list((sla or {}).values()))

    def scaled(values: list[float | None]) -> list[float]:
        return [v / scale if v is not None else math.nan for v in values]

    speed.plot(positions, scaled(medians), marker="o", color=MEDIAN_COLOUR, linewidth=2, label="median")
    speed.plot(positions, scaled(p90s), marker="o", markersize=4, color=P90_COLOUR, linewidth=1.5, linestyle="--", label="90th percentile")
    for network, seconds in sorted((sla or {}).items()):
        speed.axhline(seconds / scale, color=SLA_COLOUR, linewidth=1, linestyle=":")
        speed.annotate(f"{NETWORK_LABEL.get(network, network)} SLA", (1, seconds / scale), xycoords=("axes fraction", "data"),
                       xytext=(-2, 2), textcoords="offset points", fontsize=8, color="#6b7280", ha="right")
    answered = [v for v in scaled(p90s) if not math.isnan(v)]
    speed.set_ylim(bottom=0, top=max(max(answered + [s / scale for s in (sla or {}).values()], default=0) * 1.2, 1))
    speed.set_ylabel(f"First response ({unit})")
    speed.set_title(f"Time to first response, by the {period.unit} the case was opened", loc="left", fontsize=11)
    if answered:
        speed.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, ncols=2, fontsize=9)
    else:
        speed.text(0.5, 0.5, "No answered cases in this period", transform=speed.transAxes, ha="center", va="center", color="#6b7280")

    for axis in (volume, speed):
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis="y", color="#e5e7eb", linewidth=0.8)
        axis.set_axisbelow(True)
    step = max(1, math.ceil(len(slots) / 12))  # at most ~12 labels so they stay legible on a phone
    speed.set_xticks(positions[::step], [_slot_label(report, s, i, len(slots)) for i, s in list(enumerate(slots))[::step]], fontsize=8)
    speed.set_xlim(-0.6, max(len(slots) - 0.4, 0.6))
    first, last = period.local(period.start), period.local(period.end)
    fig.suptitle(f"socialdesk · {period.label}", fontsize=14, fontweight="bold", x=0.01, ha="left")
    fig.text(0.99, 0.985, f"{first:%-d %b %H:%M} – {last:%-d %b %H:%M} · times in {period.tz}", ha="right", va="top", fontsize=9, color="#4b5563")
    return fig


def alt_text(report: Report) -> str:
    """What the chart shows, for screen readers (Slack's alt_txt)."""
    slots = report.slots
    total = sum(s.opened for s in slots)
    busiest = max(slots, key=lambda s: s.opened, default=None)
    parts = [f"Chart of cases opened per {report.period.unit} and time to first response, {report.period.label} ({report.period.tz}): {total} cases"]
    if busiest is not None and busiest.opened:
        when = report.period.local(busiest.start).strftime("%H:%M" if report.period.unit == "hour" else "%a %-d %b")
        parts.append(f"busiest {report.period.unit} {when} with {busiest.opened}")
    if report.current.response.median is not None:
        parts.append(f"median first response {report.current.response.median / 60:.0f} minutes overall")
    return "; ".join(parts) + "."


def incident_chart(title: str, start, bucket, counts: list[int], *, resolved: bool = False) -> bytes:
    """An incident's rate as PNG bytes: posts per interval, bars from zero, small enough for a thread."""
    fig = Figure(figsize=(7, 2.6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    minutes = bucket.total_seconds() / 60
    xs = [start + bucket * i for i in range(len(counts))]
    ax.bar(xs, counts, width=bucket * 0.9, align="edge", color="#dc2626" if not resolved else "#6b7280")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"posts per {minutes:g} min")
    ax.set_title(("Resolved: " if resolved else "") + title[:80], loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M UTC"))
    ax.tick_params(axis="x", labelsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
