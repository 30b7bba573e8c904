"""The chart: a legible, labelled, honest PNG (axes from zero, gaps where nothing was answered)."""
from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from matplotlib.image import imread

from bot import charts
from bot.domain import stats

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=timezone.utc)


def make_report(key: str, per_slot: list[tuple[dict[str, int], float | None, float | None]] | None = None, tz: str = "Europe/London") -> stats.Report:
    period = stats.period_ending_now(key, NOW, tz)
    edges = period.edges
    per_slot = per_slot if per_slot is not None else [({}, None, None)] * (len(edges) - 1)
    slots = [
        stats.Slot(edges[i], edges[i + 1], sum(nets.values()), nets, stats.Latency(sum(nets.values()), median, p90) if median is not None else stats.Latency())
        for i, (nets, median, p90) in enumerate(per_slot)
    ]
    medians = [s.response.median for s in slots if s.response.median is not None]
    current = stats.Totals(opened=sum(s.opened for s in slots), response=stats.Latency(len(medians), sorted(medians)[len(medians) // 2] if medians else None, None))
    backlog = stats.Backlog(0, 0, [], None)
    return stats.Report(period, NOW, current, stats.Totals(), [], backlog, slots, [], [])


WEEK = [({"x": 12, "facebook": 5}, 420, 1500), ({"x": 20, "facebook": 9}, 600, 2400), ({"x": 3}, 300, 900), ({}, None, None),
        ({"x": 7, "facebook": 2}, 900, 4000), ({"facebook": 4}, 1200, 2000), ({"x": 1}, None, None)]


def test_a_week_is_a_png_a_phone_can_show():
    png = charts.render(make_report("7d", WEEK), sla={"x": 900, "facebook": 3600})
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 20_000 < len(png) < 400_000
    height, width, _ = imread(io.BytesIO(png)).shape
    assert (width, height) == (990, 770)


def test_both_axes_start_at_zero_and_are_labelled():
    figure = charts.figure(make_report("7d", WEEK), sla={"x": 900})
    volume, speed = figure.axes
    assert volume.get_ylim()[0] == 0 and speed.get_ylim()[0] == 0
    assert volume.get_ylabel() == "Cases opened" and speed.get_ylabel() == "First response (minutes)"
    assert volume.get_ylim()[1] >= 29  # the busiest day's bar fits
    assert speed.get_ylim()[1] >= 4000 / 60
    assert "last 7 days" in figure._suptitle.get_text()
    assert any("times in Europe/London" in t.get_text() for t in figure.texts)
    labels = [t.get_text() for t in speed.get_xticklabels()]
    assert labels[0] == "Thu\n9 May" and labels[-1].endswith("(so far)")
    assert [t.get_text() for t in volume.get_legend().get_texts()] == ["Facebook", "X"]


def test_days_without_answers_are_gaps_not_zeros():
    speed = charts.figure(make_report("7d", WEEK)).axes[1]
    median_line = speed.get_lines()[0]
    values = list(median_line.get_ydata())
    assert math.isnan(values[3]) and math.isnan(values[6]) and values[0] == 7.0


def test_long_response_times_switch_to_hours_and_short_ones_to_seconds():
    slow = make_report("7d", [({"x": 1}, 3 * 3600, 20 * 3600)] * 7)
    fast = make_report("7d", [({"x": 1}, 20, 45)] * 7)
    assert charts.figure(slow).axes[1].get_ylabel() == "First response (hours)"
    assert charts.figure(fast).axes[1].get_ylabel() == "First response (seconds)"


def test_thirty_days_keep_their_labels_readable():
    month = make_report("30d", [({"x": i % 7}, 60.0 * (i % 5 + 1), 300.0) for i in range(30)])
    labels = [t.get_text() for t in charts.figure(month).axes[1].get_xticklabels()]
    assert 8 <= len(labels) <= 13


def test_today_is_per_hour():
    today = make_report("today", [({"x": 1}, 120, 300)] * 12, tz="UTC")
    figure = charts.figure(today)
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()][:2] == ["00:00", "01:00"]
    assert figure.axes[0].get_title(loc="left") == "Cases opened per hour"


def test_an_empty_period_says_so_instead_of_drawing_nothing():
    figure = charts.figure(make_report("7d"))
    texts = [t.get_text() for axis in figure.axes for t in axis.texts]
    assert "No cases in this period" in texts and "No answered cases in this period" in texts
    assert charts.render(make_report("7d")).startswith(b"\x89PNG")


def test_charts_render_safely_from_several_threads_at_once():
    report = make_report("7d", WEEK)
    with ThreadPoolExecutor(max_workers=4) as pool:
        pngs = list(pool.map(lambda _: charts.render(report), range(8)))
    assert len(set(pngs)) == 1  # no shared pyplot state: every render is identical


def test_alt_text_describes_the_chart():
    text = charts.alt_text(make_report("7d", WEEK))
    assert "cases opened per day" in text and "63 cases" in text and "busiest day Fri 10 May with 29" in text


def test_hours_on_a_daylight_saving_day():
    spring = datetime(2024, 3, 31, 22, 59, tzinfo=timezone.utc)
    period = stats.period_ending_now("today", spring, "Europe/London")
    slots = [stats.Slot(a, b, 0, {}, stats.Latency()) for a, b in zip(period.edges, period.edges[1:])]
    report = stats.Report(period, spring, stats.Totals(), stats.Totals(), [], stats.Backlog(0, 0, [], None), slots, [], [])
    labels = [charts._slot_label(report, slot, i, len(slots)) for i, slot in enumerate(slots)]
    assert len(labels) == 23 and labels[:3] == ["00:00", "02:00", "03:00"]  # clocks went from 01:00 to 02:00
    assert charts.render(report).startswith(b"\x89PNG")
