"""admin/charts.py on its own: one bar group per period, segments stacked by outcome in order,
an axis that holds the largest bar, a title and labels for assistive technology, and text
escaped (a principal's name goes into the title)."""

from __future__ import annotations

import datetime as dt
import itertools
from xml.etree import ElementTree

import pytest

from authserver.admin import charts

NOW = dt.datetime(2030, 3, 5, 14, 25, tzinfo=dt.UTC)
OUTCOMES = ("allowed", "denied_scope", "invalid")


def _chart(series, periods=None, title="Requests"):  # noqa: ANN001, ANN202
    periods = periods or charts.last_hours(NOW, 24)
    return charts.stacked_bars(title=title, periods=periods, series=series, outcomes=OUTCOMES,
                               label=lambda p: p.strftime("%H:00"), label_every=6,
                               describe=lambda p: p.strftime("%d %H:00"))  # fmt: skip


def test_the_periods_end_with_the_current_one():
    hours = charts.last_hours(NOW, 24)
    assert len(hours) == 24 and hours[-1] == NOW.replace(minute=0)
    assert hours[0] == dt.datetime(2030, 3, 4, 15, tzinfo=dt.UTC)
    days = charts.last_days(NOW, 30)
    assert len(days) == 30 and days[-1] == dt.datetime(2030, 3, 5, tzinfo=dt.UTC)
    assert days[0] == dt.datetime(2030, 2, 4, tzinfo=dt.UTC)


def test_one_group_per_period_stacked_from_the_bottom_in_order():
    hour = NOW.replace(minute=0)
    chart = _chart({hour: {"invalid": 2, "allowed": 6, "denied_scope": 0}})
    assert len(chart.groups) == 24 and [g.total for g in chart.groups].count(0) == 23
    last = chart.groups[-1]
    assert [s.outcome for s in last.segments] == ["allowed", "invalid"]  # zero ones left out
    allowed, invalid = last.segments
    bottom = charts.HEIGHT - charts.BOTTOM
    assert allowed.y + allowed.height == pytest.approx(bottom)
    assert invalid.y + invalid.height == pytest.approx(allowed.y)
    assert allowed.height == pytest.approx(3 * invalid.height, rel=0.02)
    assert last.title == "05 14:00: 8 requests (6 allowed, 2 invalid)"
    assert chart.groups[0].title.endswith(": none")
    # Bars left to right, inside the plot, not overlapping.
    xs = [g.x for g in chart.groups]
    assert xs == sorted(xs) and xs[0] >= charts.LEFT
    assert xs[-1] + last.width <= charts.WIDTH - charts.RIGHT
    assert all(b.x - a.x >= a.width for a, b in itertools.pairwise(chart.groups))
    # Every sixth bar is labelled.
    assert [g.label for g in chart.groups if g.label] == ["15:00", "21:00", "03:00", "09:00"]


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (38, 40, 10), (1234, 1500, 500)],
)
def test_the_axis_holds_the_largest_bar_in_round_steps(largest, top, step):
    chart = _chart({NOW.replace(minute=0): {"allowed": largest}} if largest else {})
    labels = [label for _, label in chart.ticks]
    assert labels[0] == "0" and labels[-1] == f"{top:,}"
    assert len(labels) == top // step + 1 <= 5
    if largest:
        tallest = chart.groups[-1].segments[0]
        assert tallest.height == pytest.approx((charts.HEIGHT - charts.TOP - charts.BOTTOM)
                                               * largest / top, abs=0.1)  # fmt: skip


def test_an_outcome_the_caller_did_not_name_is_stacked_last():
    chart = _chart({NOW.replace(minute=0): {"allowed": 1, "teapot": 1}})
    assert chart.outcomes == (*OUTCOMES, "teapot")
    assert [s.outcome for s in chart.groups[-1].segments] == ["allowed", "teapot"]


def test_the_svg_is_labelled_and_escaped():
    days = charts.last_days(NOW, 30)
    chart = _chart({days[3]: {"allowed": 4, "invalid": 1}}, periods=days,
                   title='Requests of apikey:<b>"x"</b>')  # fmt: skip
    svg = str(charts.to_svg(chart, element_id="daily", described_by="daily-table"))
    assert svg.startswith('<svg class="bars" viewBox="0 0 720 220" role="img"')
    assert svg.count('<g class="bar-group"') == 30 and svg.count("</g>") == 30
    assert 'aria-describedby="daily-table"' in svg and 'aria-labelledby="daily-title"' in svg
    assert (
        '<title id="daily-title">Requests of apikey:&lt;b&gt;&#34;x&#34;&lt;/b&gt;</title>' in svg
    )
    assert "<b>" not in svg
    assert svg.count('class="seg seg-allowed"') == 1 and svg.count('class="seg seg-invalid"') == 1
    assert f'data-period="{days[3].isoformat()}"' in svg
    assert "style=" not in svg and "<script" not in svg
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own markup: well formed?
    assert root.tag == "svg" and len(root.findall("g")) == 30
    assert root.find("title").text == 'Requests of apikey:<b>"x"</b>'
