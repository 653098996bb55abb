"""GET /api/v1/stats and the figures behind it, checked against data sets computed by hand."""

import math
import statistics
from datetime import UTC, datetime, timedelta

from announcements.models import Role
from announcements.protocol import Rating, RequestCategory, RequestStatus
from announcements.request_models import (
    RequestUpdate,
)
from announcements.requests.intake import NewRequest, store_requests
from announcements.requests.sweep import sweep_no_follow_up
from announcements.requests.workflow import record_feedback, update_request
from announcements.stats import Durations, durations
from announcements.timeutil import utcnow
from announcements.tokens import Principal
from broadcast_server.keys import DATABASE, REPLIES
from broadcast_server.ratelimit import RateLimiter
from tests.requests.conftest import http_reply, patch, resolve

LIUJINGTUN = "/hongqi/liujingtun"
XINCUN = "/hongqi/xincun"
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def test_durations_are_kept_to_the_millisecond_and_none_without_any():
    """Median and 90th percentile of the times taken, to the millisecond; with nothing to measure, none."""
    assert durations([]) == Durations(count=0, median_s=None, p90_s=None)
    assert durations([2.5004, 0.1234, 1.23456]) == Durations(count=3, median_s=1.235, p90_s=2.5)


async def test_response_rate_from_stored_history_counts_the_overdue_unanswered_and_not_the_not_yet_due(village, clock):
    """Replies taken in through POST /api/v1/replies and answered through PATCH, each at a time set on the
    server's clock. At 05:00 the response rate is 4/10:

    - help (first response due in 2 h), taken in at 00:00: three answered at 01:00 (in time), two at
      03:00 (late), four never answered (overdue: in the denominator, not the numerator);
    - help taken in at 03:00, unanswered, due at exactly 05:00: not yet past its deadline, not counted;
    - complaints (due in 24 h): one taken in at 00:00 and answered at 04:00 (in time, counted though
      not yet due), three taken in at 01:00 and unanswered (not yet due, not counted).

    At 26:00 the four unanswered ones taken in later are past their deadlines too: 4/14."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    gate = await village.screen("gate", LIUJINGTUN)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)

    async def taken_in(category: str, at: datetime) -> str:
        clock.at = at
        return (await http_reply(village, gate["token"], category=category))["ticket"]

    async def answered(tickets, at: datetime) -> None:
        clock.at = at
        for ticket in tickets:
            await patch(village, ticket, assignee="王网格员")

    in_time = [await taken_in("help", t0) for _ in range(3)]
    late = [await taken_in("help", t0) for _ in range(2)]
    unanswered = [await taken_in("help", t0) for _ in range(4)]
    early = await taken_in("complaint", t0)
    due_at_five = await taken_in("help", t0 + 3 * H)
    not_yet_due = [await taken_in("complaint", t0 + H) for _ in range(3)]
    await answered(in_time, t0 + H)
    await answered(late, t0 + 3 * H)
    await answered([early], t0 + 4 * H)

    clock.at = t0 + 5 * H
    _, stats = await village.call("GET", "/stats", expect=200)
    assert stats["totals"]["all"] == 14
    assert stats["response_rate"] == {"numerator": 4, "denominator": 10, "rate": 0.4}
    assert stats["overdue"] == 4
    assert stats["time_to_first_response"] == {"count": 6, "median_s": 7200, "p90_s": 14400}
    _, overdue = await village.call("GET", "/requests", params={"overdue": "true", "limit": 200}, expect=200)
    assert sorted(r["ticket"] for r in overdue["items"]) == sorted(unanswered)

    clock.at = t0 + 26 * H
    _, later = await village.call("GET", "/stats", expect=200)
    assert later["response_rate"] == {"numerator": 4, "denominator": 14, "rate": 0.2857}
    _, overdue = await village.call("GET", "/requests", params={"overdue": "true", "limit": 200}, expect=200)
    assert {due_at_five, *not_yet_due} <= {r["ticket"] for r in overdue["items"]}


async def test_overdue_means_the_same_in_each_flag_the_filter_and_the_figures_at_every_deadline(village, clock):
    """"Overdue" is worked out in three places: each listed request's flag, the `?overdue=` filter (in SQL)
    and the figures. Three calls for help (first response due in 2 h, resolution in 24 h) taken in at
    00:00: one never answered, one answered at 01:00 and left in progress, one resolved at 01:00. At each
    deadline a request is not yet overdue; a second later it is, unless it is no longer open."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    gate = await village.screen("gate", LIUJINGTUN)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    clock.at = t0
    unanswered, answered, resolved = [(await http_reply(village, gate["token"], category="help"))["ticket"] for _ in range(3)]
    clock.at = t0 + H
    await patch(village, answered, assignee="王网格员")
    await resolve(village, resolved)
    second = timedelta(seconds=1)
    expected = {
        t0 + 2 * H: set(),
        t0 + 2 * H + second: {unanswered},
        t0 + 24 * H: {unanswered},
        t0 + 24 * H + second: {unanswered, answered},
    }

    async def tickets(**params) -> dict[str, bool]:
        _, page = await village.call("GET", "/requests", params={"limit": 200, **params}, expect=200)
        return {r["ticket"]: r["overdue"] for r in page["items"]}

    for at, overdue in expected.items():
        clock.at = at
        flags = await tickets()
        _, stats = await village.call("GET", "/stats", expect=200)
        seen = (
            {t for t, flag in flags.items() if flag},
            set(await tickets(overdue="true")),
            set(await tickets(overdue="false")),
            stats["overdue"],
        )
        assert seen == (overdue, overdue, set(flags) - overdue, len(overdue)), f"at {at - t0}"


async def test_a_period_takes_in_from_its_first_instant_up_to_but_not_its_last(village, clock):
    """`since` and `until` in the figures and in the log: [since, until), so consecutive periods
    (this week, next week) count each request once. Requests taken in at 00:00, 01:00 and 02:00."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    gate = await village.screen("gate", LIUJINGTUN)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    taken = []
    for hour in range(3):
        clock.at = t0 + hour * H
        taken.append((await http_reply(village, gate["token"]))["ticket"])
    clock.at = t0 + 3 * H

    async def period(**bounds) -> tuple[int, set[str]]:
        params = {name: at.isoformat() for name, at in bounds.items()}
        _, stats = await village.call("GET", "/stats", params=params, expect=200)
        _, page = await village.call("GET", "/requests", params=params, expect=200)
        return stats["totals"]["all"], {r["ticket"] for r in page["items"]}

    assert await period(since=t0 + H, until=t0 + 2 * H) == (1, {taken[1]})
    _, stats = await village.call("GET", "/stats", params={"since": (t0 + H).isoformat()}, expect=200)
    assert (stats["since"], stats["until"]) == ((t0 + H).isoformat().replace("+00:00", "Z"), None)  # what the figures cover
    _, stats = await village.call("GET", "/stats", params={"until": (t0 + H).isoformat()}, expect=200)
    assert (stats["since"], stats["until"]) == (None, (t0 + H).isoformat().replace("+00:00", "Z"))
    assert await period(since=t0 + H) == (2, {taken[1], taken[2]})
    assert await period(until=t0 + H) == (1, {taken[0]})


async def test_emergencies_and_drills_are_counted_in_the_scope_and_the_period_each_in_one(village, clock):
    """/stats counts the emergencies and the drills that went live in the caller's scope within [since, until): a
    drill only as a drill, a normal notice in neither, another village's only for the county, and one scheduled for
    tomorrow not until it is live. Emergencies at 00:00 and 02:00, a drill at 01:00."""
    committee, other = await village.token("committee", LIUJINGTUN), await village.token("committee", XINCUN)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    clock.at = t0
    await village.post(committee, title="暴雨红色预警", priority="emergency")
    clock.at = t0 + H
    await village.post(committee, title="山洪转移", drill=True)
    await village.post(committee, title="停电通知")
    await village.post(committee, title="明天的预警", priority="emergency", publish_at=(t0 + 30 * H).isoformat())
    await village.post(other, title="新村的预警", priority="emergency")
    clock.at = t0 + 2 * H
    await village.post(committee, title="山体滑坡预警", priority="emergency")
    clock.at = t0 + 3 * H

    async def counted(token: str, **bounds) -> tuple[int, int]:
        params = {name: at.isoformat() for name, at in bounds.items()}
        _, stats = await village.call("GET", "/stats", token=token, params=params, expect=200)
        return stats["emergencies"], stats["drills"]

    assert await counted(committee) == (2, 1)
    assert await counted(committee, since=t0, until=t0 + 2 * H) == (1, 1)
    assert await counted(committee, since=t0 + H) == (1, 1)
    assert await counted(committee, until=t0 + H) == (1, 0)
    assert await counted(village.admin) == (3, 1)


async def test_the_figures_show_the_areas_ten_newest_announcements(village):
    """Beside the request figures, the ten newest announcements of the area asked for, newest first, with
    when each went out; not those of a neighbouring village."""
    here = await village.token("committee", LIUJINGTUN)
    neighbour = await village.token("committee", XINCUN)
    posted = [await village.post(token=here, title=f"通知 {n}") for n in range(11)]
    await village.post(token=neighbour, title="新村的通知")
    _, stats = await village.call("GET", "/stats", params={"area": LIUJINGTUN}, expect=200)
    shown = [(a["id"], a["title"], a["published_at"]) for a in stats["announcements"]]
    assert shown == [(p["id"], p["title"], p["published_at"]) for p in reversed(posted[1:])]


async def _village_year(village, now):
    """126 requests through the domain functions in one transaction, with the times and outcomes below.

    - 100 complaints C1..C100 (Liujingtun): first response at k×6 min, resolved at k h; C1..C80
      satisfied, C81..C95 basically satisfied (both close), C96..C100 dissatisfied (reopened),
      resolved again at 200 h, not answered since.
    - 25 calls for help H1..H25 (Xincun): first response at j×12 min (the deadline is 2 h: H1..H10 in
      time); H1..H23 resolved at 5+j h, H1..H3 then swept as "no follow-up" (closed); H24, H25 still
      in progress, past the 24 h resolution deadline (overdue).
    - 1 question Q (Xincun): rejected after 1 h with a response.
    """
    gate = await village.screen("gate", LIUJINGTUN)
    well = await village.screen("well", XINCUN)
    t0 = now - timedelta(days=20)
    staff = Principal(token_id="t", role=Role.COMMITTEE, area="/hongqi", name="李主任")
    items = (
        [NewRequest(area=LIUJINGTUN, category=RequestCategory.COMPLAINT, text=f"C{k}", screen_id=gate["id"]) for k in range(1, 101)]
        + [NewRequest(area=XINCUN, category=RequestCategory.HELP, text=f"H{j}", screen_id=well["id"]) for j in range(1, 26)]
        + [NewRequest(area=XINCUN, category=RequestCategory.QUESTION, text="Q", screen_id=well["id"])]
    )
    async with village.app[DATABASE].write() as session:
        taken = await store_requests(session=session, items=items, now=t0)
        c = {k: taken[k - 1].ticket for k in range(1, 101)}
        h = {j: taken[99 + j].ticket for j in range(1, 26)}
        q = taken[125].ticket

        async def change(ticket, at, **fields):
            await update_request(session=session, ticket=ticket, changes=RequestUpdate(**fields), principal=staff, now=at)

        for k, ticket in c.items():
            await change(ticket, t0 + k * 6 * MIN, assignee="王网格员")
            await change(ticket, t0 + k * 6 * MIN + MIN, status=RequestStatus.IN_PROGRESS)
            await change(ticket, t0 + k * H, status=RequestStatus.RESOLVED, response="已处理")
            rating = Rating.SATISFIED if k <= 80 else Rating.BASICALLY_SATISFIED if k <= 95 else Rating.DISSATISFIED
            await record_feedback(session=session, ticket=ticket, screen_id=gate["id"], rating=rating, comment=None, now=t0 + (k + 1) * H)
        for j, ticket in h.items():
            await change(ticket, t0 + j * 12 * MIN, assignee="赵网格员")
            await change(ticket, t0 + j * 12 * MIN + MIN, status=RequestStatus.IN_PROGRESS)
            if j <= 23:
                await change(ticket, t0 + (5 + j) * H, status=RequestStatus.RESOLVED, response="已上门")
        await change(q, t0 + H, status=RequestStatus.REJECTED, response="请咨询镇政府")
        swept = await sweep_no_follow_up(session=session, now=t0 + timedelta(days=7) + 8 * H, after=timedelta(days=7), close=True)
        assert sorted(r.ticket for r in swept) == sorted(h[j] for j in (1, 2, 3))
        for k in range(96, 101):
            await change(c[k], t0 + 200 * H, status=RequestStatus.RESOLVED, response="再次处理")


async def test_stats_match_a_hand_computed_village(village):
    """Totals, the three rates with numerators and denominators, percentiles, overdue: as computed by hand."""
    await _village_year(village, utcnow())
    announcement = await village.post(token=await village.token("committee", "/hongqi"))
    _, stats = await village.call("GET", "/stats", params={"area": "/hongqi"}, expect=200)
    assert stats["scope"] == "/hongqi"
    assert stats["totals"] == {
        "all": 126,
        "by_status": {"received": 0, "assigned": 0, "in_progress": 2, "resolved": 25, "closed": 98, "rejected": 1},
        "by_category": {"complaint": 100, "help": 25, "question": 1},
        "by_area": {LIUJINGTUN: 100, XINCUN: 26},
    }
    assert stats["resolution_rate"] == {"numerator": 123, "denominator": 125, "rate": 0.984}
    assert stats["response_rate"] == {"numerator": 111, "denominator": 126, "rate": 0.881}
    assert stats["satisfaction_rate"] == {"numerator": 95, "denominator": 100, "rate": 0.95}
    assert (stats["overdue"], stats["no_follow_up"], stats["reopened"]) == (2, 3, 5)

    first = sorted([k * 360 for k in range(1, 101)] + [j * 720 for j in range(1, 26)] + [3600])
    resolution = sorted([k * 3600 for k in range(1, 96)] + [200 * 3600] * 5 + [(5 + j) * 3600 for j in range(1, 24)])
    assert stats["time_to_first_response"] == {
        "count": 126, "median_s": statistics.median(first), "p90_s": first[math.ceil(0.9 * 126) - 1]
    } == {"count": 126, "median_s": 15120, "p90_s": 31680}
    assert stats["time_to_resolution"] == {
        "count": 123, "median_s": statistics.median(resolution), "p90_s": resolution[math.ceil(0.9 * 123) - 1]
    } == {"count": 123, "median_s": 140400, "p90_s": 316800}
    assert [(a["id"], a["targeted"]) for a in stats["announcements"]] == [(announcement["id"], 2)]

    xincun = await village.token("worker", XINCUN)
    _, local = await village.call("GET", "/stats", token=xincun, expect=200)
    assert local["totals"]["all"] == 26 and local["resolution_rate"] == {"numerator": 23, "denominator": 25, "rate": 0.92}
    assert local["satisfaction_rate"] == {"numerator": 0, "denominator": 0, "rate": None}
    assert (await village.call("GET", "/stats", token=xincun, params={"area": LIUJINGTUN}))[0] == 403
    since = (utcnow() - timedelta(days=1)).isoformat()
    _, recent = await village.call("GET", "/stats", params={"since": since}, expect=200)
    assert recent["totals"]["all"] == 0 and recent["resolution_rate"]["rate"] is None
