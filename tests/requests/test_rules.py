"""The request log's pure rules: tickets, phone masking, the state machine table, the rate limiter, the schema."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from announcements.errors import Conflict, RateLimited
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import ServiceRequest
from announcements.requests.intake import NewRequest, store_request
from announcements.requests.text import mask_phone
from announcements.requests.tickets import TICKET_ALPHABET, new_ticket, normalize_ticket
from announcements.requests.workflow import steps_to
from announcements.timeutil import utcnow
from broadcast_server.keys import DATABASE
from broadcast_server.ratelimit import RateLimiter
from tests.requests.conftest import TICKET

MY_TABLES = {"service_request", "request_history", "reply_key"}


def test_tickets_are_short_readable_and_varied():
    """Tickets look like A7K-3QX, never contain 0, O, 1, I or L, and hardly repeat (31^6 of them: the store retries a clash)."""
    drawn = [new_ticket() for _ in range(10_000)]
    assert all(TICKET.match(t) for t in drawn)
    assert len(set(drawn)) >= len(drawn) - 2  # about 0.06 repeats are expected in 10,000 draws
    assert not set("01OIL") & set(TICKET_ALPHABET)


@pytest.mark.parametrize(
    "typed, canonical",
    [
        ("A7K-3QX", "A7K-3QX"), ("a7k3qx", "A7K-3QX"), (" a7k 3qx ", "A7K-3QX"),
        ("A7K-3Q0", None), ("A7K-3Q", None), ("A7K-3QX-9", None), ("", None),
    ],
)
def test_a_ticket_as_typed_over_the_phone(typed, canonical):
    """Case, spaces and the dash do not matter; anything else is not a ticket."""
    assert normalize_ticket(typed) == canonical


@pytest.mark.parametrize(
    "phone, masked",
    [
        ("13812345678", "138****5678"), ("+86 138 1234 5678", "+86 1** **** 5678"), ("0451-8888666", "045*-***8666"),
        ("110", "*10"), ("", ""),
        ("021-876543", "021-**6543"), ("87654321", "******21"),  # nine digits keep head and tail; eight only two
    ],
)
def test_phone_masking(phone, masked):
    """The first three and last four digits stay; short numbers keep only their last two."""
    assert mask_phone(phone) == masked


def test_the_state_machine_table():
    """Exactly the changes of docs/protocol.md §2.11.3 are allowed, plus walking forward through open statuses
    (resolve in one step), each step named; every other pair is a Conflict."""
    S = RequestStatus
    allowed = {
        (S.RECEIVED, S.ASSIGNED): [S.ASSIGNED], (S.ASSIGNED, S.IN_PROGRESS): [S.IN_PROGRESS],
        (S.IN_PROGRESS, S.RESOLVED): [S.RESOLVED], (S.RESOLVED, S.CLOSED): [S.CLOSED],
        (S.RECEIVED, S.REJECTED): [S.REJECTED], (S.ASSIGNED, S.REJECTED): [S.REJECTED],
        (S.IN_PROGRESS, S.REJECTED): [S.REJECTED], (S.RESOLVED, S.IN_PROGRESS): [S.IN_PROGRESS],
        (S.RECEIVED, S.IN_PROGRESS): [S.ASSIGNED, S.IN_PROGRESS],
        (S.RECEIVED, S.RESOLVED): [S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED],
        (S.ASSIGNED, S.RESOLVED): [S.IN_PROGRESS, S.RESOLVED],
    }
    for current in S:
        for new in S:
            if (current, new) in allowed:
                assert steps_to(current, new) == allowed[(current, new)]
            elif current != new:
                with pytest.raises(Conflict):
                    steps_to(current, new)


def test_rate_limiter_refills_evenly_and_refunds():
    """Ten a minute: a burst of ten, then one every six seconds; a refund gives one back."""
    now = [0.0]
    limiter = RateLimiter(10, what="replies", clock=lambda: now[0])
    for _ in range(10):
        limiter.take("s")
    with pytest.raises(RateLimited) as refused:
        limiter.take("s")
    assert refused.value.retry_after_s == 6
    limiter.take("other")
    now[0] = 6.0
    limiter.take("s")
    limiter.refund("s")
    limiter.take("s")
    with pytest.raises(RateLimited):
        limiter.take("s")


async def test_migrations_build_the_tables_the_models_describe(village):
    """After the migrations run, the request log's tables match the models (nothing left for autogenerate)."""
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    mine = [d for d in diffs if any(table in repr(d) for table in MY_TABLES)]
    assert mine == []


async def test_a_racing_writer_of_the_same_reply_gets_the_first_ticket(village):
    """Two transactions storing one (screen, client_msg_id) at once (two replicas): the second gets the first's ticket."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    item = NewRequest(area="/hongqi/liujingtun", category=RequestCategory.HELP, text="t", screen_id=screen["id"], client_msg_id="m1")
    db = village.app[DATABASE]
    first_stored = asyncio.Event()

    async def first():
        async with db.write() as session:
            taken = await store_request(session=session, item=item, now=utcnow())
            first_stored.set()
            await asyncio.sleep(0.3)  # still uncommitted while the second one tries
        return taken

    async def second():
        await first_stored.wait()
        async with db.write() as session:
            return await store_request(session=session, item=item, now=utcnow())

    a, b = await asyncio.gather(first(), second())
    assert a.created and not b.created and a.ticket == b.ticket
    async with db.read() as session:
        assert len((await session.exec(select(ServiceRequest))).all()) == 1
