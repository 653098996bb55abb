"""The proof-of-delivery figures (announcements/delivery_report.py) and the CSV choice (broadcast_server/api/deliveries.py)."""

import pytest

from announcements.delivery_report import time_to_share
from broadcast_server.api.deliveries import prefers_csv

# Seconds after going live at which each of nine devices played an emergency, in the order the receipts came;
# sorted: 3.5, 4, 5.5, 7.25, 8, 9, 12, 30, 60.
RECEIPTS = [12.0, 3.5, 7.25, 30.0, 4.0, 9.0, 5.5, 60.0, 8.0]


@pytest.mark.parametrize(
    ("targeted", "percent", "expected"),
    [
        (9, 50, 8.0),  # ceil(4.5) = the 5th play
        (9, 90, 60.0),  # ceil(8.1) = the 9th
        (9, 100, 60.0),  # all nine
        (10, 50, 8.0),  # the 5th of 10
        (10, 90, 60.0),  # the 9th of 10
        (10, 100, None),  # the tenth device never played it
        (12, 50, 9.0),  # the 6th of 12
        (20, 50, None),  # 9 of 20 played: not yet half
    ],
)
def test_time_until_a_share_of_the_devices_played(targeted, percent, expected):
    """The time of the ceil(percent × targeted / 100)-th play, whatever order the receipts came in; None until reached."""
    assert time_to_share(RECEIPTS, targeted=targeted, percent=percent) == expected


def test_one_device_and_no_device():
    """One device of one: its own play for every share; nothing targeted or nothing played: no time."""
    assert [time_to_share([2.5], targeted=1, percent=p) for p in (50, 90, 100)] == [2.5, 2.5, 2.5]
    assert time_to_share([], targeted=0, percent=50) is None
    assert time_to_share([], targeted=3, percent=50) is None


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("text/csv", True),
        ("text/csv, application/json;q=0.5", True),
        ("application/json, text/csv;q=0.9", False),
        ("text/csv;q=0.5, application/json;q=0.5", False),  # a tie is JSON
        ("", False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),  # a browser
        ("TEXT/CSV; Q=1", True),
        ("text/csv;q=abc", False),  # an unreadable weight counts as 0
        ("text/csv;q=nan", False),
    ],
)
def test_accept_header_chooses_csv_only_when_it_prefers_it(accept, csv):
    assert prefers_csv(accept) is csv
