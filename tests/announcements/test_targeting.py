"""The targeting rule: areas, tags, single screens."""

import pytest

from announcements.targeting import Target

GATE = {"screen_id": "s1", "area": "/hq/ljt", "tags": ["gate"]}
MARKET = {"screen_id": "s2", "area": "/hq/ljt/grid-3", "tags": ["market"]}
OTHER_VILLAGE = {"screen_id": "s3", "area": "/hq/xc", "tags": ["market"]}


@pytest.mark.parametrize(
    "target, reached",
    [
        (Target(areas=("/hq/ljt",)), {"s1", "s2"}),
        (Target(areas=("/hq",)), {"s1", "s2", "s3"}),
        (Target(areas=("/hq",), tags=("market",)), {"s2", "s3"}),
        (Target(screens=("s3",)), {"s3"}),
        (Target(areas=("/hq/ljt",), screens=("s3",)), {"s1", "s2", "s3"}),
        (Target(areas=("/hq/lj",)), set()),
    ],
)
def test_target_reaches_exactly(target, reached):
    """A target reaches the screens in its areas (narrowed by tags) plus the ones it names."""
    screens = [GATE, MARKET, OTHER_VILLAGE]
    assert {s["screen_id"] for s in screens if target.matches(**s)} == reached


@pytest.mark.parametrize(
    "target, expected",
    [
        (Target(), Target(areas=("/hq",))),
        (Target(tags=("market",)), Target(areas=("/hq",), tags=("market",))),
        (Target(screens=("s1",)), Target(screens=("s1",))),
        (Target(areas=("/hq/ljt",)), Target(areas=("/hq/ljt",))),
    ],
)
def test_default_area_fills_only_when_missing(target, expected):
    """An empty target, or tags alone, mean the poster's own area; a list of screens alone stays as is."""
    assert target.with_default_area("/hq") == expected
