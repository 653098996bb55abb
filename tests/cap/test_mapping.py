"""The mapping from a CAP `<info>` to an announcement: priority table, division codes, choice of info, long texts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from announcements.cap.alert import AlertArea, Geocode, parse_alert
from announcements.cap.mapping import (
    BODY_CUT,
    BODY_MAX,
    chosen_infos,
    default_priority_rules,
    division_prefix,
    match_areas,
    priority_of,
    title_and_body,
)
from announcements.models import AnnouncementCreate, Area
from broadcast_server.settings import load_settings
from tests.cap.alerts import fixture

RAINSTORM = parse_alert(fixture("rainstorm-red.xml"), max_bytes=1 << 20)
ZH = RAINSTORM.infos[1]
RULES = load_settings(None).cap_mapping


@pytest.mark.parametrize(
    ("severity", "urgency", "priority"),
    [
        ("Extreme", "Immediate", "emergency"),
        ("Severe", "Expected", "emergency"),
        ("Extreme", "Future", "high"),
        ("Severe", "Past", "high"),
        ("Moderate", "Immediate", "normal"),
        ("Minor", "Immediate", "low"),
        ("Unknown", "Unknown", "low"),
    ],
)
def test_the_default_priority_table(severity, urgency, priority):
    info = dataclasses.replace(ZH, severity=severity, urgency=urgency)
    assert priority_of(info, default_priority_rules()) == priority


def test_a_priority_table_must_give_every_alert_a_priority():
    with pytest.raises(ValidationError, match="the last rule must match every alert"):
        load_settings(None, cap_priority_rules=[{"severity": ["Extreme"], "priority": "emergency"}])
    with pytest.raises(ValidationError):
        load_settings(None, cap_priority_rules=[{"severity": ["Catastrophic"], "priority": "emergency"}, {"priority": "low"}])


@pytest.mark.parametrize(
    ("code", "prefix"),
    [("330108", "330108"), ("330100", "3301"), ("330000", "33"), ("330108000000", "330108"), ("330108001000", "330108001"),
     ("330108001001", "330108001001"), ("3301081", "3301081")],
)
def test_a_division_code_covers_the_codes_below_it(code, prefix):
    assert division_prefix(code) == prefix


def test_a_county_code_reaches_each_village_of_the_county_and_a_village_code_only_its_own():
    areas = [
        Area(path="/hongqi", name="红旗镇", geocodes=[]),
        Area(path="/hongqi/liujingtun", name="刘井屯村", geocodes=["330108001001"]),
        Area(path="/hongqi/xincun", name="新村", geocodes=["330108001002"]),
        Area(path="/other", name="别县", geocodes=["330109001001"]),
    ]

    def naming(*codes: str):
        area = AlertArea(desc="", geocodes=tuple(Geocode("GB/T 2260", c) for c in codes))
        return [dataclasses.replace(ZH, areas=(area,))]

    assert match_areas(naming("330108"), areas, RULES) == ["/hongqi/liujingtun", "/hongqi/xincun"]
    assert match_areas(naming("330108000000"), areas, RULES) == ["/hongqi/liujingtun", "/hongqi/xincun"]
    assert match_areas(naming("330108001001"), areas, RULES) == ["/hongqi/liujingtun"]
    assert match_areas(naming("330110"), areas, RULES) == []
    areas[0].geocodes = ["330108001"]  # the town has its code: it alone is the target, its villages are in it
    assert match_areas(naming("330108"), areas, RULES) == ["/hongqi"]


def test_the_chinese_info_is_taken_else_the_first():
    assert chosen_infos(RAINSTORM, ["zh-CN", "zh"]) == [ZH]
    assert chosen_infos(RAINSTORM, ["zh-TW", "zh"]) == [ZH]  # zh-CN is a zh-*
    assert chosen_infos(RAINSTORM, ["ug"]) == [RAINSTORM.infos[0]]


def test_a_long_warning_is_cut_with_a_marker_never_refused():
    long = dataclasses.replace(ZH, headline="暴" * 300, description="雨" * 6000)
    title, body = title_and_body(long)
    assert len(title) == 200 and title.endswith("…")
    assert len(body) == BODY_MAX and body.endswith(BODY_CUT)
    later = datetime(2999, 1, 1, tzinfo=UTC)
    AnnouncementCreate(title=title, body=body, expires_at=later)  # within the model's limits
