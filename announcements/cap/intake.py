"""Taking in a CAP alert: kept once per (sender, identifier, sent), and applied in the caller's transaction.

An Alert becomes announcements (a drill for Exercise and Test); an Update revises the announcements of the
alert it references, or is taken as a new alert when nothing it references is still on; a Cancel retracts
them. Draft, System, Ack and Error are kept and not broadcast; so is an alert naming no area configured here
(`unmatched`), for an admin to see. Everything happens in one transaction: a refusal (CapRefused, or any
domain error) rolls it all back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.cap.alert import Alert, Info, MsgType, Reference
from announcements.cap.mapping import MappingRules, announcement_for, chosen_infos, match_areas, named_areas, revision_for, title_and_body
from announcements.cap.refusals import CapRefused, Refusal
from announcements.models import OPEN_STATUSES, Announcement, CapAlert, CapOutcome
from announcements.paging import PAGE_LIMIT_DEFAULT, newest_first, split_page
from announcements.protocol import CapAlertKey
from announcements.queue import cancel_announcement, create_announcement, update_announcement
from announcements.registry import list_areas
from announcements.targeting import Target
from announcements.tokens import Principal


@dataclass(frozen=True)
class Taken:
    alert: CapAlert
    duplicate: bool  # taken in before: `alert` is the earlier row, and nothing was done now


def reference_text(sender: str, identifier: str, sent: datetime) -> str:
    """CAP's "sender,identifier,sent" (sent in UTC, as kept)."""
    return f"{sender},{identifier},{sent.isoformat()}"


async def find_alert(*, session: AsyncSession, sender: str, identifier: str, sent: datetime) -> CapAlert | None:
    query = select(CapAlert).where(CapAlert.sender == sender, CapAlert.identifier == identifier, CapAlert.sent == sent)
    return (await session.exec(query)).first()


async def take_in(
    *, session: AsyncSession, alert: Alert, principal: Principal, rules: MappingRules, now: datetime, default_lifetime: timedelta
) -> Taken:
    """Keep `alert` and do what it asks; the same alert again does nothing and is answered with the earlier row."""
    earlier = await find_alert(session=session, sender=alert.sender, identifier=alert.identifier, sent=alert.sent)
    if earlier is not None:
        return Taken(earlier, duplicate=True)
    infos = chosen_infos(alert, rules.languages)
    row = CapAlert(
        sender=alert.sender, identifier=alert.identifier, sent=alert.sent, status=alert.status.value, msg_type=alert.msg_type.value,
        references=[reference_text(r.sender, r.identifier, r.sent) for r in alert.references],
        headline=title_and_body(infos[0])[0] if infos else None, outcome=CapOutcome.STORED,
        named_areas=named_areas(infos, rules), area=principal.area, received_at=now, received_by=principal.token_id,
        document=alert.document,
    )
    if not alert.broadcast:
        row.reason = f"status {alert.status}, msgType {alert.msg_type}: kept, not broadcast"
    elif alert.msg_type == MsgType.CANCEL:
        await _cancel(session=session, alert=alert, row=row, principal=principal, now=now)
    elif not infos:
        row.reason = "no <info>: nothing to broadcast"
    else:
        still_on = []  # what an Update revises; an Alert looks nothing up
        if alert.msg_type == MsgType.UPDATE:
            still_on = await _still_on(session=session, referenced=await _referenced(session, alert.references), principal=principal)
        if still_on:
            await _revise(
                session=session, alert=alert, infos=infos, announcements=still_on, row=row, rules=rules, principal=principal, now=now
            )
        else:
            await _create(
                session=session, alert=alert, infos=infos, row=row, rules=rules, principal=principal, now=now,
                default_lifetime=default_lifetime,
            )
    session.add(row)
    await session.flush()
    return Taken(row, duplicate=False)


def _key(alert: Alert) -> dict:
    """The alert's identity as its announcements carry it (PROTOCOL.md 1.1 `cap`)."""
    return CapAlertKey(identifier=alert.identifier, sender=alert.sender, sent=alert.sent).model_dump(mode="json")


async def _referenced(session: AsyncSession, references: tuple[Reference, ...]) -> list[CapAlert]:
    found = [await find_alert(session=session, sender=r.sender, identifier=r.identifier, sent=r.sent) for r in references]
    return [row for row in found if row is not None]


async def _still_on(*, session: AsyncSession, referenced: list[CapAlert], principal: Principal) -> list[Announcement]:
    """The announcements the referenced alerts made that are scheduled or live and the poster may change, in order."""
    ids = list(dict.fromkeys(i for row in referenced for i in row.announcement_ids))
    if not ids:
        return []
    found = {a.id: a for a in (await session.exec(select(Announcement).where(col(Announcement.id).in_(ids)))).all()}
    return [found[i] for i in ids if i in found and found[i].status in OPEN_STATUSES and principal.in_scope(found[i].area)]


async def _cancel(*, session: AsyncSession, alert: Alert, row: CapAlert, principal: Principal, now: datetime) -> None:
    referenced = await _referenced(session, alert.references)
    if not referenced:
        given = " ".join(row.references) or "nothing"
        raise CapRefused(Refusal.REFERENCE_UNKNOWN, f"the Cancel references no alert taken in here ({given})", loc=["alert", "references"])
    still_on = await _still_on(session=session, referenced=referenced, principal=principal)
    for announcement in still_on:
        await cancel_announcement(session=session, announcement_id=announcement.id, principal=principal, now=now)
    row.outcome = CapOutcome.CANCELLED
    row.announcement_ids = [a.id for a in still_on]
    row.areas = sorted({path for r in referenced for path in r.areas})
    if not still_on:
        row.reason = "nothing the referenced alerts made was still on"


async def _revise(
    *, session: AsyncSession, alert: Alert, infos: list[Info], announcements: list[Announcement], row: CapAlert, rules: MappingRules,
    principal: Principal, now: datetime,
) -> None:
    """Each info revises the announcement in its place (the first info the first announcement...); the targets stay."""
    revised = []
    for info, announcement in zip(infos, announcements, strict=False):
        changes = revision_for(info, drill=alert.drill, rules=rules, now=now)
        announcement.cap = _key(alert)  # the revision screens get says which alert it came from
        revised.append(
            await update_announcement(session=session, announcement_id=announcement.id, changes=changes, principal=principal, now=now)
        )
    row.outcome = CapOutcome.UPDATED
    row.announcement_ids = [a.id for a in revised]
    row.areas = sorted({path for a in revised for path in Target.from_json(a.target).areas})


async def _create(
    *, session: AsyncSession, alert: Alert, infos: list[Info], row: CapAlert, rules: MappingRules, principal: Principal,
    now: datetime, default_lifetime: timedelta,
) -> None:
    areas = await list_areas(session=session, principal=principal)  # only the poster's scope can be matched
    made, reached = [], set()
    for info in infos:
        paths = match_areas([info], areas, rules)
        if not paths:
            continue
        data = announcement_for(info, drill=alert.drill, areas=paths, rules=rules, now=now)
        created = await create_announcement(
            session=session, data=data, principal=principal, now=now, default_lifetime=default_lifetime, cap=_key(alert)
        )
        made.append(created.announcement.id)
        reached.update(paths)
    if not made:
        row.outcome = CapOutcome.UNMATCHED
        row.reason = f"names no area configured here: {'; '.join(row.named_areas) or 'no <area> at all'}"[:500]
        return
    row.outcome = CapOutcome.CREATED
    row.announcement_ids = made
    row.areas = sorted(reached)


async def list_alerts(
    *, session: AsyncSession, principal: Principal, limit: int = PAGE_LIMIT_DEFAULT, cursor: str | None = None
) -> tuple[list[CapAlert], str | None]:
    """The alerts posted within the caller's scope, newest first, one page and the next page's cursor."""
    query = select(CapAlert).where(in_area_subtree(col(CapAlert.area), principal.area))
    query = newest_first(query, created=col(CapAlert.received_at), key=col(CapAlert.id), cursor=cursor, limit=limit)
    rows = (await session.exec(query)).all()
    return split_page(rows, limit=limit, created_of=lambda r: r.received_at, key_of=lambda r: r.id)
