"""Announcements as CAP 1.2 alerts, and the Atom feed of the public ones (issue 14 §2, docs/protocol.md §2.15).

A document is derived from the announcement as stored, so it reads the same each time it is asked for: revision 1
is an `Alert`, a later revision an `Update`, a cancelled announcement a `Cancel`, and an Update or a Cancel
`references` the first Alert. That is what lets a county platform or a neighbouring server take this server's
warnings in as it takes any CAP alert. Built with lxml: text is escaped, never markup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from lxml import etree
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import leaf_name
from announcements.cap.alert import CAP_1_2
from announcements.events import ANNOUNCEMENT
from announcements.models import Announcement, AnnouncementStatus, Area, Event
from announcements.protocol import Language, Priority
from announcements.targeting import Target

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
ATOM_MEDIA_TYPE = "application/atom+xml"

FEED_SIZE = 50  # the newest announcements the feed lists,
FEED_KEEPS_ENDED = timedelta(days=1)  # each until a day after it was cancelled or expired

# (urgency, severity, certainty) by priority. CAP in (docs/protocol.md) makes Immediate and Severe an emergency
# again, so a warning passed from one server to the next keeps its priority. CAP has no grade below Minor.
GRADES: dict[str, tuple[str, str, str]] = {
    Priority.EMERGENCY: ("Immediate", "Severe", "Likely"),
    Priority.HIGH: ("Expected", "Moderate", "Likely"),
    Priority.NORMAL: ("Future", "Minor", "Possible"),
    Priority.LOW: ("Future", "Minor", "Possible"),
}
# <event> when the announcement has no category of its own, in its language.
EVENT_WORDS: dict[str, dict[str, str]] = {
    Language.ZH: {Priority.EMERGENCY: "紧急通知", Priority.HIGH: "重要通知", Priority.NORMAL: "通知", Priority.LOW: "通知"},
    Language.EN: {Priority.EMERGENCY: "Emergency", Priority.HIGH: "Important notice", Priority.NORMAL: "Notice", Priority.LOW: "Notice"},
}
CAP_LANGUAGES = {Language.ZH: "zh-CN", Language.EN: "en"}
# An announcement's category (free text) as CAP's <category>, matched whole, ignoring case; anything else is Other.
_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "Met": ("met", "weather", "flood", "storm", "typhoon", "气象", "天气", "防汛", "汛情", "暴雨", "台风", "洪水", "大风", "寒潮",
            "高温", "暴雪", "冰雹"),
    "Geo": ("geo", "earthquake", "landslide", "地震", "地质灾害", "滑坡", "泥石流"),
    "Fire": ("fire", "火灾", "防火", "森林防火"),
    "Health": ("health", "epidemic", "卫生", "健康", "疫情", "防疫"),
    "Safety": ("safety", "安全", "安全生产"),
    "Security": ("security", "治安", "公安"),
    "Rescue": ("rescue", "救援", "搜救"),
    "Env": ("env", "environment", "pollution", "环境", "环保", "污染"),
    "Transport": ("transport", "traffic", "交通", "道路"),
    "Infra": ("infra", "infrastructure", "power", "water", "停电", "停水", "电力", "供水", "通信"),
    "CBRNE": ("cbrne", "chemical", "危化品", "化学品"),
}
CAP_CATEGORIES = {word: category for category, words in _CATEGORY_WORDS.items() for word in words}
# <geocode> valueName of an area's administrative division codes (GB/T 2260 style, `Area.geocodes`).
GEOCODE_NAME = "GB/T 2260"


def cap_category(category: str | None) -> str:
    return CAP_CATEGORIES.get((category or "").strip().lower(), "Other")


# ---------------------------------------------------------------- what a document names besides the announcement

@dataclass(frozen=True)
class Place:
    name: str
    geocodes: tuple[str, ...]


@dataclass(frozen=True)
class Exported:
    """One announcement with the rest its alert names: the areas it is for, and when its current revision went out."""

    announcement: Announcement
    places: list[Place]
    revised_at: datetime | None


def _area_paths(announcement: Announcement) -> list[str]:
    """The target's areas; for a target naming only screens, the poster's area they are in."""
    return list(Target.from_json(announcement.target).areas) or [announcement.area]


def _place(path: str, area: Area | None) -> Place:
    if area is None:
        return Place(name=leaf_name(path), geocodes=())
    return Place(name=area.name, geocodes=tuple(area.geocodes))


async def _revision_times(session: AsyncSession, announcements: Sequence[Announcement]) -> dict[str, datetime]:
    """When each revised announcement's current revision went out: its newest announcement event, when that is
    of the current revision (a revision made before publication went out with the publication)."""
    if not announcements:
        return {}
    newest = (
        select(sa.func.max(Event.seq))
        .where(col(Event.announcement_id).in_([a.id for a in announcements]), Event.type == ANNOUNCEMENT)
        .group_by(col(Event.announcement_id))
    )
    revision = {a.id: a.revision for a in announcements}
    events = (await session.exec(select(Event).where(col(Event.seq).in_(newest)))).all()
    return {
        e.announcement_id: e.created_at
        for e in events
        if e.announcement_id is not None and e.payload["announcement"]["revision"] == revision[e.announcement_id]
    }


async def load(session: AsyncSession, announcements: Sequence[Announcement]) -> list[Exported]:
    """The announcements with their areas and revision times: two queries, however many there are."""
    paths = {a.id: _area_paths(a) for a in announcements}
    wanted = {path for listed in paths.values() for path in listed}
    areas = {area.path: area for area in (await session.exec(select(Area).where(col(Area.path).in_(wanted)))).all()}
    revised = await _revision_times(session, [a for a in announcements if a.revision > 1])
    return [Exported(a, [_place(p, areas.get(p)) for p in paths[a.id]], revised.get(a.id)) for a in announcements]


# ---------------------------------------------------------------- which announcements are public

def _public(*, priorities: Sequence[str], now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """The feed's rule: published (so said aloud already), of a priority the deployment publishes, and not ended
    (cancelled or expired) longer than FEED_KEEPS_ENDED ago."""
    return (
        col(Announcement.published_at).is_not(None),
        col(Announcement.priority).in_(list(priorities)),
        sa.func.coalesce(col(Announcement.ended_at), col(Announcement.expires_at)) >= now - FEED_KEEPS_ENDED,
    )


async def feed_announcements(session: AsyncSession, *, priorities: Sequence[str], now: datetime) -> Sequence[Announcement]:
    """What the feed lists: the newest FEED_SIZE public announcements, newest first."""
    query = (
        select(Announcement)
        .where(*_public(priorities=priorities, now=now))
        .order_by(col(Announcement.published_at).desc(), col(Announcement.id).desc())
        .limit(FEED_SIZE)
    )
    return (await session.exec(query)).all()


async def public_announcement(
    session: AsyncSession, *, announcement_id: str, priorities: Sequence[str], now: datetime
) -> Announcement | None:
    """The announcement if the feed's rule makes it public, else None (whether or not it exists)."""
    query = select(Announcement).where(Announcement.id == announcement_id, *_public(priorities=priorities, now=now))
    return (await session.exec(query)).first()


# ---------------------------------------------------------------- the documents

@dataclass(frozen=True)
class Message:
    identifier: str
    sent: datetime
    msg_type: str


def first_message(announcement: Announcement) -> Message:
    """The Alert of revision 1, sent when the announcement went live (or, not yet live, when it was made)."""
    return Message(f"{announcement.id}.1", announcement.published_at or announcement.created_at, "Alert")


def current_message(exported: Exported) -> Message:
    """The message that says what the announcement is now: a Cancel, the Update of its revision, or the first Alert."""
    announcement, first = exported.announcement, first_message(exported.announcement)
    if announcement.status == AnnouncementStatus.CANCELLED:
        return Message(f"{announcement.id}.cancel", announcement.ended_at or first.sent, "Cancel")
    if announcement.revision > 1:
        return Message(f"{announcement.id}.{announcement.revision}", exported.revised_at or first.sent, "Update")
    return first


def _add(parent: etree._Element, namespace: str, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{namespace}}}{tag}", attributes)
    element.text = text
    return element


@dataclass(frozen=True)
class CapExport:
    """What this deployment says of itself in every document (settings `cap_export_sender`, `cap_export_sender_name`)
    and the zone its times are given in (setting `timezone`)."""

    sender: str
    sender_name: str | None
    zone: ZoneInfo

    def time(self, moment: datetime) -> str:
        """CAP's form of a time: the zone's offset (+08:00, never Z), no fractional seconds."""
        return moment.astimezone(self.zone).isoformat(timespec="seconds")

    def alert(self, exported: Exported) -> etree._Element:
        announcement = exported.announcement
        first, message = first_message(announcement), current_message(exported)
        alert = etree.Element(f"{{{CAP_1_2}}}alert", nsmap={None: CAP_1_2})

        def add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
            return _add(parent, CAP_1_2, tag, text)

        add(alert, "identifier", message.identifier)
        add(alert, "sender", self.sender)
        add(alert, "sent", self.time(message.sent))
        add(alert, "status", "Exercise" if announcement.drill else "Actual")
        add(alert, "msgType", message.msg_type)
        add(alert, "scope", "Public")
        if message != first:
            add(alert, "references", f"{self.sender},{first.identifier},{self.time(first.sent)}")
        info = add(alert, "info")
        language = Language(announcement.language)
        add(info, "language", CAP_LANGUAGES[language])
        add(info, "category", cap_category(announcement.category))
        add(info, "event", announcement.category or EVENT_WORDS[language][announcement.priority])
        urgency, severity, certainty = GRADES[announcement.priority]
        add(info, "urgency", urgency)
        add(info, "severity", severity)
        add(info, "certainty", certainty)
        if announcement.publish_at is not None:
            add(info, "effective", self.time(announcement.publish_at))
        add(info, "expires", self.time(announcement.expires_at))
        if self.sender_name:
            add(info, "senderName", self.sender_name)
        add(info, "headline", announcement.title)
        add(info, "description", announcement.body)
        area = add(info, "area")
        add(area, "areaDesc", "、".join(place.name for place in exported.places))
        for place in exported.places:
            for code in place.geocodes:
                geocode = add(area, "geocode")
                add(geocode, "valueName", GEOCODE_NAME)
                add(geocode, "value", code)
        return alert

    def document(self, exported: Exported) -> bytes:
        return etree.tostring(self.alert(exported), xml_declaration=True, encoding="UTF-8")

    def feed(self, listed: Sequence[Exported], *, self_url: str, cap_url: Callable[[str], str], now: datetime) -> bytes:
        """An Atom feed (RFC 4287) of `listed`: an entry per announcement, its current alert inline and linked.

        Ids are stable URNs (the feed's from the sender, an entry's from the announcement id), so a reader knows an
        entry again after an Update; `updated` is when the entry's current message was sent.
        """
        feed = etree.Element(f"{{{ATOM_NAMESPACE}}}feed", nsmap={None: ATOM_NAMESPACE})

        def add(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
            return _add(parent, ATOM_NAMESPACE, tag, text, **attributes)

        name = self.sender_name or self.sender
        messages = [current_message(exported) for exported in listed]
        add(feed, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"cap-feed:{self.sender}").urn)
        add(feed, "title", f"{name} 预警信息 (CAP 1.2)")
        add(feed, "updated", self.time(max((m.sent for m in messages), default=now)))
        add(add(feed, "author"), "name", name)
        add(feed, "link", rel="self", type=ATOM_MEDIA_TYPE, href=self_url)
        for exported, message in zip(listed, messages, strict=True):
            announcement = exported.announcement
            entry = add(feed, "entry")
            add(entry, "id", uuid.UUID(hex=announcement.id).urn)
            add(entry, "title", announcement.title)
            add(entry, "updated", self.time(message.sent))
            add(entry, "published", self.time(first_message(announcement).sent))
            add(entry, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=cap_url(announcement.id))
            add(entry, "content", type=CAP_MEDIA_TYPE).append(self.alert(exported))
        return etree.tostring(feed, xml_declaration=True, encoding="UTF-8")
