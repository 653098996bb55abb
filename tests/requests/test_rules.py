"""The request log's pure rules: tickets, phone masking, the state machine table, the rate limiter, the schema."""

import asyncio
import itertools
import re
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from announcements.errors import Conflict, RateLimited
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import ServiceRequest
from announcements.requests import intake
from announcements.requests.intake import NewRequest, store_request
from announcements.requests.text import mask_phone
from announcements.requests.tickets import DIGITS_SHORT, new_ticket, normalize_ticket
from announcements.requests.workflow import steps_to
from announcements.timeutil import utcnow
from broadcast_server.keys import DATABASE
from broadcast_server.ratelimit import RateLimiter
from tests.requests.conftest import TICKET, http_reply, resolve

MY_TABLES = {"service_request", "request_history", "reply_key"}


def test_tickets_are_digits_in_two_groups_random_not_in_sequence():
    """Tickets look like 482-193 and are drawn at random: few repeats in 2,000 (10^6 of them) and no running order."""
    drawn = [new_ticket() for _ in range(2_000)]
    assert all(TICKET.match(t) for t in drawn)
    assert len(set(drawn)) >= len(drawn) - 10  # about 2 repeats are expected; the store draws again on a clash
    numbers = [int(t.replace("-", "")) for t in drawn]
    assert len({b - a for a, b in itertools.pairwise(numbers)}) > 1_000  # no fixed step from one ticket to the next
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}", new_ticket(9))


@pytest.mark.parametrize(
    "typed, canonical",
    [
        ("482-193", "482-193"), ("482193", "482-193"), (" 482 193 ", "482-193"), ("４８２－１９３", "482-193"),
        ("482—193", "482-193"), ("482-193-705", "482-193-705"), ("482193705", "482-193-705"),
        ("A7K-3QX", "A7K-3QX"), ("a7k3qx", "A7K-3QX"), (" a7k 3qx ", "A7K-3QX"),
        ("A7K-3Q0", None), ("A7K-3Q", None), ("A7K-3QX-9", None), ("", None),
        ("48-2193", "482-193"), ("4821-93", "482-193"), ("482-19", None), ("4821-9305", None), ("٤٨٢١٩٣", None),
    ],
)
def test_a_ticket_as_typed_over_the_phone(typed, canonical):
    """Case, spaces, full-width digits and dashes do not matter; old tickets (A7K-3QX) still count; anything else is not a ticket."""
    assert normalize_ticket(typed) == canonical


async def _found_everywhere(village, gate, ticket: str, typed: str) -> None:
    """A ticket typed as a person would is found by the staff's lookup and search, by Open311, and takes feedback."""
    in_path = quote(typed)
    _, detail = await village.call("GET", f"/requests/{in_path}", expect=200)
    assert detail["ticket"] == ticket
    _, page = await village.call("GET", "/requests", params={"q": typed}, expect=200)
    assert [r["ticket"] for r in page["items"]] == [ticket]
    committee = await village.token("committee", "/hongqi")
    async with village.http.get(f"{village.url}/open311/v2/requests/{in_path}.json", params={"api_key": committee}) as resp:
        assert resp.status == 200 and (await resp.json())[0]["service_request_id"] == ticket
    await resolve(village, ticket)
    _, answer = await village.call("POST", f"/requests/{in_path}/feedback", token=gate["token"], json={"rating": "satisfied"}, expect=200)
    assert (answer["ticket"], answer["status"]) == (ticket, "closed")


@pytest.mark.parametrize("typed", ["{compact}", "{head} {tail}"])
async def test_a_new_ticket_typed_without_the_dash_or_with_a_space_is_found(village, gate, typed):
    """482193 and `482 193` find 482-193 wherever a ticket is looked up."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    assert TICKET.match(ticket)
    head, tail = ticket.split("-")
    await _found_everywhere(village, gate, ticket, typed.format(compact=head + tail, head=head, tail=tail))


async def test_an_old_alphanumeric_ticket_keeps_working(village, gate, monkeypatch):
    """A request given A7K-3QX before tickets were digits is still found (as a7k3qx too) and still takes feedback."""
    monkeypatch.setattr(intake, "new_ticket", lambda digits=DIGITS_SHORT: "A7K-3QX")  # stored as the previous release did
    assert (await http_reply(village, gate["token"]))["ticket"] == "A7K-3QX"
    monkeypatch.undo()
    await _found_everywhere(village, gate, "A7K-3QX", "a7k3qx")


async def test_a_crowded_six_digit_space_gives_nine_digit_tickets(village, gate, monkeypatch):
    """When six-digit draws keep hitting stored tickets, intake draws 482-193-705 instead of stalling."""
    monkeypatch.setattr(intake, "new_ticket", lambda digits=DIGITS_SHORT: "482-193")
    assert (await http_reply(village, gate["token"]))["ticket"] == "482-193"
    monkeypatch.setattr(intake, "new_ticket", lambda digits=DIGITS_SHORT: "482-193" if digits == DIGITS_SHORT else new_ticket(digits))
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}", ticket)
    await _found_everywhere(village, gate, ticket, ticket.replace("-", ""))


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
