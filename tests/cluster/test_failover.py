"""Replicas going away under a district's screens (tests/cluster/conftest.py: three replicas on one PostgreSQL
database behind the shipped nginx site): a replica stopped with SIGTERM, one killed -9 in the middle of a burst of
posts, and a rolling restart of all three under a steady stream of posts, replies and receipts. The screens on the
replica that went away reconnect through nginx to the others and resume by last_seq: every post answered 201
reaches every screen, once, and nothing a screen was told was taken (a reply's ticket, a receipt) is lost.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.cluster.conftest import District, answering
from tests.e2e.screens import eventually

pytestmark = [
    pytest.mark.parametrize("database_settings", ["postgres"], indirect=True),
    pytest.mark.settings(trusted_proxies=["127.0.0.1"]),  # nginx on loopback, as config/county.toml ships it
]
RECONNECT_S = 0.3  # the reference clients back off 0-1 s at first (jittered); the tests' screens a fixed moment


async def test_a_stopped_replicas_screens_resume_on_another(district):
    gate_token, market_token = await district.screen_tokens(2)
    # Away 5 s after a close: longer than the replica takes to exit and the posts below take to be made, so those
    # posts are made while the moved screen is away, whatever the machine's load.
    gate = district.screen(gate_token, reconnect_after_s=5.0)
    await eventually(lambda: gate.synced)
    market = district.screen(market_token, reconnect_after_s=5.0)  # least_conn: another replica
    try:
        await eventually(lambda: market.synced)
        first = await district.post("通知 1")
        await eventually(lambda: first in gate.seen and first in market.seen, timeout=5)

        holding = [await district.connected_at(replica) for replica in district.replicas]
        assert sorted(holding) == [0, 1, 1], holding  # least_conn put them on two replicas
        stopped = district.replicas[holding.index(1)]
        assert await asyncio.to_thread(stopped.terminate) == 0  # what systemd's KillSignal=SIGTERM does
        # The screen on the stopped replica was told 1001 (going away); the other one never noticed.
        await eventually(lambda: len(gate.closes) + len(market.closes) == 1, timeout=5)
        moved, stayed = (gate, market) if gate.closes else (market, gate)
        assert moved.closes == [1001], moved.closes

        # Posted while the moved screen is away (it waits before it says hello again): it must come back through
        # nginx on another replica, resume by last_seq and get both.
        during = [await district.post("停机期间 1"), await district.post("停机期间 2")]
        assert not moved.synced
        await eventually(lambda: set(during) <= set(moved.seen) and set(during) <= set(stayed.seen), timeout=10)
        assert moved.resets == [True, False]  # the first hello had nothing (null); the second resumed by last_seq
        assert moved.seen == stayed.seen == [first, *during]  # nothing missed, nothing twice
        assert stayed.closes == []
    finally:
        await gate.stop()
        await market.stop()


async def test_a_replica_killed_mid_fan_out_loses_no_post_it_answered_and_its_screens_resume_on_the_others(district):
    screens = [district.screen(token, reconnect_after_s=RECONNECT_S) for token in await district.screen_tokens(36)]
    try:
        await eventually(lambda: all(screen.synced for screen in screens), timeout=30)
        first = await district.post("通知 0")  # every screen has a last_seq to resume by
        await eventually(lambda: all(first in screen.seen for screen in screens), timeout=10)
        holding = [await district.connected_at(replica) for replica in district.replicas]
        assert all(holding) and sum(holding) == len(screens), holding  # least_conn spread them
        killed = district.replicas[1]

        answers: dict[str, tuple[int, str | None]] = {"通知 0": (201, first)}  # title -> (status, id if 201)

        async def clerk(name: str) -> None:  # posts back to back; four at once keep requests in flight on every replica
            for n in range(1, 7):
                answers[f"{name} {n}"] = await district.try_post(f"{name} {n}")

        posting = asyncio.gather(*(clerk(f"通知 {letter}") for letter in "ABCD"))
        # Killed while the first posts are being fanned out and the rest are still coming: no shutdown at all.
        await eventually(lambda: len(answers) > 6 or posting.done(), interval=0.01)
        assert not posting.done()
        await asyncio.to_thread(killed.kill)
        await posting

        statuses = {status for status, _ in answers.values()}
        assert statuses <= {201, 502}, answers  # 502: nginx, for a request cut by the kill
        stored = await district.announcements()
        answered = {id for status, id in answers.values() if status == 201}
        assert answered <= stored.keys()  # everything answered 201 was committed
        # Stored without a 201 (committed, then cut before the answer) is allowed; so is lost when never answered.
        assert {stored[id] for id in stored.keys() - answered} <= {t for t, (status, _) in answers.items() if status != 201}

        await eventually(lambda: all(set(screen.seen) >= stored.keys() for screen in screens), timeout=30)
        for screen in screens:
            assert sorted(screen.seen) == sorted(stored)  # every post, nothing twice
            assert screen.seqs == sorted(set(screen.seqs))  # each event once, in seq order
            assert screen.seen == screens[0].seen
        # The killed replica's screens were cut off (no close frame), the others never noticed; each came back on
        # another replica and resumed by last_seq, never reset.
        moved = [screen for screen in screens if screen.closes]
        assert len(moved) == holding[1], (len(moved), holding)
        assert all(screen.resets[0] and screen.resets[1:] and not any(screen.resets[1:]) for screen in moved), [
            screen.resets for screen in moved]
    finally:
        await asyncio.gather(*(screen.stop() for screen in screens))


# Every post gets a villager's reply, as fast as the posts come: more than the shipped 10 a minute per screen.
@pytest.mark.settings(trusted_proxies=["127.0.0.1"], reply_rate_per_minute=600)
async def test_a_rolling_restart_of_all_three_loses_no_post_reply_or_receipt(district):
    count = 12
    screens = [
        district.screen(token, reconnect_after_s=RECONNECT_S, receipts=True, replying=villager(n, count))
        for n, token in enumerate(await district.screen_tokens(count))
    ]
    answers: dict[str, tuple[int, str | None]] = {}
    restarted = asyncio.Event()

    async def steady() -> None:
        while not restarted.is_set():
            title = f"通知 {len(answers) + 1}"
            answers[title] = await district.try_post(title)
            await asyncio.sleep(0.2)  # a clerk's pace, compressed

    try:
        await eventually(lambda: all(screen.synced for screen in screens), timeout=30)
        posting = asyncio.create_task(steady())
        back_since = {replica.port: 0 for replica in district.replicas}  # the access log from its latest start on
        for replica in district.replicas:
            # docs/deploy.md §8: one at a time, and only while nginx sends requests to another one (nginx counts a
            # replica that refused it as down for fail_timeout, 10 s, even once it answers again).
            others = [other.port for other in district.replicas if other is not replica]
            await eventually(lambda others=others: any(port in district.nginx.answered_by(back_since[port]) for port in others),
                             timeout=20)
            assert await asyncio.to_thread(replica.terminate) == 0
            before = len(answers)
            await asyncio.to_thread(replica.start)  # same settings, a new process
            await answering(replica.url)
            back_since[replica.port] = district.nginx.log_mark()
            assert len(answers) > before  # posts went on meanwhile
        restarted.set()
        await posting

        # A post may be cut only by racing a stopping replica's close of nginx's idle connection to it (502, at most
        # one a restart); that post was never taken: the database holds exactly the posts answered 201.
        cut = [(title, status) for title, (status, _) in answers.items() if status != 201]
        assert all(status == 502 for _, status in cut) and len(cut) <= len(district.replicas), cut
        posted = {id for status, id in answers.values() if status == 201}
        assert (await district.announcements()).keys() == posted
        await eventually(lambda: all(set(screen.seen) >= posted for screen in screens), timeout=30)
        for screen in screens:
            assert sorted(screen.seen) == sorted(posted) and screen.seqs == sorted(set(screen.seqs))

        # Every reply is resent until it has a ticket; each ticket is in the request log, once, with its text.
        await eventually(lambda: all(screen.tickets.keys() == screen.replies.keys() for screen in screens), timeout=30)
        logged = {item["ticket"]: item for item in await district.every("/requests")}
        sent = {screen.tickets[key]: (screen.screen_id, reply["text"]) for screen in screens
                for key, reply in screen.replies.items()}
        assert len(sent) == sum(len(screen.replies) for screen in screens) == len(logged) == len(posted)
        assert {ticket: (item["screen_id"], item["text"]) for ticket, item in logged.items()} == sent

        # Every receipt is resent until a pong shows it taken in; each is counted in the post's deliveries.
        await eventually(lambda: all(not screen.unconfirmed and screen.confirmed == posted for screen in screens), timeout=30)
        assert [screen.errors for screen in screens] == [[]] * count
        figures = {"targeted": count, "received": count, "displayed": count, "played": 0}
        await eventually(lambda: delivered(district, posted, figures), timeout=15, interval=0.5)
    finally:
        restarted.set()
        await asyncio.gather(*(screen.stop() for screen in screens))


def villager(n: int, count: int):
    """Screen n's villager answers one post in `count` (通知 n, n + count, ...): every post gets one reply."""

    def reply(announcement: dict) -> str | None:
        number = int(announcement["title"].split()[-1])
        return f"屏 {n} 收到{announcement['title']}，有个问题" if number % count == n else None

    return reply


async def delivered(district: District, posted: set[str], figures: dict) -> bool:
    """Each post's deliveries as the console shows them (written in batches every delivery_flush_s)."""
    details = await asyncio.gather(*(district.call("GET", f"/announcements/{id}", 200) for id in posted))
    return all(detail["deliveries"] == figures for detail in details)

