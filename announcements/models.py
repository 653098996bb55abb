"""Tables and API shapes (SQLModel): per entity `XBase`, the table `X`, and `XCreate` / `XPublic`.

Every change a screen must learn of is an `Event` row written in the same transaction as the change.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlmodel import Field, SQLModel

from announcements.areas import normalize_area
from announcements.protocol import CapAlertKey, Image, Language, Priority, ScreenKind
from announcements.timeutil import ClientDateTime, ClientWallTime, UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def _time_column(**kw) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json_column(default_factory) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON)


class Role(StrEnum):
    ADMIN = "admin"
    COMMITTEE = "committee"
    WORKER = "worker"
    SCREEN = "screen"
    FEED = "feed"  # a warning system posting CAP alerts (POST /cap), nothing else


MACHINE_ROLES = frozenset({Role.SCREEN, Role.FEED})  # held by devices and systems through a token, never by a person


class AnnouncementStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ValidAreaPath(SQLModel):
    """Mixed into the models that take an area from a client. Answers are built from stored rows and
    are not checked again: a path stored under an older rule must still be listed, never a 422."""

    @field_validator("area", "path", mode="before", check_fields=False)
    @classmethod
    def _valid_area(cls, value: str) -> str:
        return normalize_area(value)


# ---------------------------------------------------------------- areas

class AreaBase(SQLModel):
    path: str = Field(primary_key=True, max_length=600)
    name: str = Field(min_length=1, max_length=100)


class Area(AreaBase, table=True):
    created_at: datetime = _time_column(default_factory=utcnow)
    kiosk_dwell_s: int | None = None  # seconds a kiosk shows each notice here; null: the nearest ancestor's, else 10
    geocodes: list[str] = _json_column(list)  # administrative division codes (GB/T 2260) a CAP alert's <geocode> matches


GEOCODE_PATTERN = r"^[0-9]{6,12}$"
MAX_GEOCODES = 20


def _geocodes(codes: list[str] | None) -> list[str] | None:
    """Administrative division codes: 6 to 12 digits each (330108, or 330108001001 down to a village), kept once."""
    if codes is None:
        return None
    for code in codes:
        if not re.fullmatch(GEOCODE_PATTERN, code):
            raise PydanticCustomError(
                "area_geocode", "an administrative division code is 6 to 12 digits, such as 330108 or 330108001001: not {code}",
                {"code": code[:20]},
            )
    return list(dict.fromkeys(codes))


class AreaCreate(ValidAreaPath, AreaBase):
    pass


class AreaPublic(AreaBase):
    created_at: datetime
    kiosk_dwell_s: int | None = None  # the area's own setting; null: it inherits
    kiosk_dwell_inherited_s: int | None = None  # what it inherits: the nearest ancestor's setting; null: the kiosk's 10 s
    geocodes: list[str] = Field(default_factory=list, description="administrative division codes CAP alerts are matched by")


class AreaUpdate(SQLModel):
    """PATCH /areas/{path}: the name people read and the division codes CAP alerts name it by; a field left out
    stays as it is. The path (the id machines use) never changes."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    geocodes: list[str] | None = Field(
        default=None, max_length=MAX_GEOCODES, description="GB/T 2260 administrative division codes, 6 to 12 digits each; [] clears",
        schema_extra={"json_schema_extra": {"items": {"type": "string", "pattern": GEOCODE_PATTERN}}},
    )

    _geocodes = field_validator("geocodes")(_geocodes)


# ---------------------------------------------------------------- screens

class ScreenBase(SQLModel):
    name: str = Field(min_length=1, max_length=100)
    area: str = Field(max_length=600, index=True)
    kind: ScreenKind = Field(default=ScreenKind.SCREEN, sa_type=sa.String(20))


class Screen(ScreenBase, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tags: list[str] = _json_column(list)
    created_at: datetime = _time_column(default_factory=utcnow)
    revoked_at: datetime | None = _time_column(default=None)
    last_seen: datetime | None = _time_column(default=None)
    client: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    cursor: int = 0  # the highest seq the screen has acknowledged (cumulative ack)
    connected_to: str | None = Field(default=None, max_length=32)  # the replica it is connected to (announcements/deliveries.py)


def _tag_set(tags: list[str] | None) -> list[str] | None:
    """A device's tags: each 1 to 40 characters, kept once each, in order (what targeting compares)."""
    if tags is None:
        return None
    for tag in tags:
        if not tag or len(tag) > 40:
            raise ValueError("each tag is 1 to 40 characters")
    return sorted(set(tags))


class ScreenCreate(ValidAreaPath, ScreenBase):
    tags: list[str] = Field(default_factory=list, max_length=20)

    _tags = field_validator("tags")(_tag_set)


class ScreenUpdate(SQLModel):
    """PATCH /screens/{id}: what an admin may change about a device; a field left out stays as it is."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    area: str | None = Field(default=None, max_length=600)
    tags: list[str] | None = Field(default=None, max_length=20)

    _tags = field_validator("tags")(_tag_set)

    @field_validator("area", mode="before")
    @classmethod
    def _valid_area(cls, value: str | None) -> str | None:
        return None if value is None else normalize_area(value)


class ScreenPublic(ScreenBase):
    id: str
    tags: list[str]
    created_at: datetime
    last_seen: datetime | None
    client: dict[str, Any] | None
    cursor: int
    online: bool = False
    behind: int = 0  # events the deployment has that this screen has not acknowledged (upper bound)


class ScreenCreated(ScreenBase):
    id: str
    tags: list[str]
    token: str


class Showing(SQLModel):
    """The announcement a screen puts first now."""

    id: str
    title: str
    priority: str


class ScreenStatus(ScreenPublic):
    """A device as the console lists it: where (by name), what it shows, and whether it needs a look."""

    area_name: str | None = Field(default=None, description="the area's name; null if the area is not on record")
    showing: Showing | None = Field(default=None, description="the live announcement it was sent that comes first")
    last_received_at: datetime | None = Field(default=None, description="when it last acknowledged an announcement")
    offline_s: float | None = Field(default=None, description="seconds since it was last seen, while offline")
    offline_alert: bool = Field(default=False, description="offline longer than screen_offline_alert_minutes")


# ---------------------------------------------------------------- tokens

class TokenBase(SQLModel):
    role: Role = Field(sa_type=sa.String(20))
    area: str = Field(max_length=600)
    name: str = Field(min_length=1, max_length=100)


class Token(TokenBase, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64, unique=True)
    screen_id: str | None = Field(default=None, foreign_key="screen.id", index=True, max_length=32)
    created_at: datetime = _time_column(default_factory=utcnow)
    revoked_at: datetime | None = _time_column(default=None)


class TokenCreate(ValidAreaPath, TokenBase):
    @field_validator("role")
    @classmethod
    def _not_screen(cls, role: Role) -> Role:
        if role == Role.SCREEN:
            raise ValueError("screen tokens are made with POST /screens, which registers the device")
        return role


class TokenPublic(TokenBase):
    id: str
    created_at: datetime
    screen_id: str | None = None


class Me(SQLModel):
    """The caller: docs/protocol.md §2.8 `GET /me`; `kind` is `token` for a bearer token, `user` for a signed-in person."""

    kind: Literal["token", "user"] = "token"
    token_id: str | None = Field(description="the token's id; null for a user")
    name: str = Field(description="the token's name, or the user's sign-in name")
    display_name: str = Field(description="what the console shows: the user's display name, or the token's name")
    role: Role
    area: str = Field(description="the token's or user's scope")
    area_name: str | None = Field(default=None, description="the scope's name; null if the area is not on record")
    screen_id: str | None = Field(default=None, description="the screen a screen token belongs to")


class TokenCreated(TokenBase):
    id: str
    token: str


# ---------------------------------------------------------------- people: user accounts and their sign-in sessions

USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}$"  # typed on a phone to sign in: short, lowercase ASCII
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 200


def _sign_in_name(value: Any) -> Any:
    """Names are compared as lowercase without surrounding spaces: phone keyboards capitalize the first letter."""
    return value.strip().lower() if isinstance(value, str) else value


Password = Annotated[str, StringConstraints(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS)]


def _a_person(role: Role | None) -> Role | None:
    if role == Role.SCREEN:
        raise ValueError("a screen is registered with POST /screens, not as a user")
    if role == Role.FEED:
        raise ValueError("a feed is a warning system, not a person: give it a token (POST /tokens)")
    return role


class UserBase(SQLModel):
    name: str = Field(max_length=40, unique=True, description="the sign-in name")
    display_name: str = Field(min_length=1, max_length=100, description="what the console shows")
    role: Role = Field(sa_type=sa.String(20))
    area: str = Field(max_length=600, description="the user's scope, as a token's")


class User(UserBase, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    password_hash: str = Field(max_length=200)
    created_at: datetime = _time_column(default_factory=utcnow)
    disabled_at: datetime | None = _time_column(default=None)


class UserCreate(ValidAreaPath, UserBase):
    name: Annotated[str, StringConstraints(max_length=40, pattern=USER_NAME_PATTERN)]
    password: Password

    _name = field_validator("name", mode="before")(_sign_in_name)
    _role = field_validator("role")(_a_person)


class UserUpdate(SQLModel):
    """PATCH /users/{name} (PROTOCOL.md §5): what an admin changes about a person; a field left out stays as it is."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    area: str | None = Field(default=None, max_length=600)
    disabled: bool | None = None
    password: Password | None = None

    _role = field_validator("role")(_a_person)

    @field_validator("area", mode="before")
    @classmethod
    def _valid_area(cls, value: str | None) -> str | None:
        return None if value is None else normalize_area(value)


class UserPublic(UserBase):
    id: str
    created_at: datetime
    disabled_at: datetime | None = None


class PasswordReset(SQLModel):
    password: Password


class PasswordChange(SQLModel):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)
    new_password: Password


class SignIn(SQLModel):
    name: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)

    _name = field_validator("name", mode="before")(_sign_in_name)


class UserSession(SQLModel, table=True):
    """A signed-in browser: only a hash of the cookie's secret is kept; it ends at `expires_at` or with its user."""

    __tablename__ = "user_session"

    secret_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    created_at: datetime = _time_column(default_factory=utcnow)
    expires_at: datetime = _time_column(index=True)


class RateLimit(SQLModel, table=True):
    """A rate limit's bucket shared by the replicas on PostgreSQL (broadcast_server/ratelimit.py): replies per
    screen, failed sign-ins per name and per address. A row whose `full_at` has passed is a full bucket: deleted."""

    __tablename__ = "rate_limit"

    key: str = Field(primary_key=True, max_length=120)  # "<what>:<screen id, name or address>"
    full_at: float  # seconds since the epoch when this key's bucket is full again


class Replica(SQLModel, table=True):
    """A server process on this database, and its heartbeat: a screen connected to it is online only while the
    heartbeat is fresh, so one killed -9 stops vouching for its screens (announcements/deliveries.py)."""

    id: str = Field(primary_key=True, max_length=32)
    alive_at: datetime = _time_column()


# ---------------------------------------------------------------- announcements

class TargetPublic(SQLModel):
    """A target as stored and answered."""

    areas: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    screens: list[str] = Field(default_factory=list)


class TargetSpec(TargetPublic):
    """A target as a client gives it: bounded, with canonical area paths."""

    areas: list[str] = Field(default_factory=list, max_length=50)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=20)
    screens: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(default_factory=list, max_length=500)

    @field_validator("areas")
    @classmethod
    def _valid_areas(cls, areas: list[str]) -> list[str]:
        return [normalize_area(a) for a in areas]


class AnnouncementBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    priority: Priority = Field(default=Priority.NORMAL, sa_type=sa.String(20))
    category: str | None = Field(default=None, max_length=40)
    language: Language = Field(default=Language.ZH, sa_type=sa.String(10))
    speak: bool = True
    repeat: int = Field(default=1, ge=1, le=5)


class Announcement(AnnouncementBase, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    revision: int = 1
    area: str = Field(max_length=600, index=True)  # the poster's scope: who may see and change it
    target: dict[str, Any] = _json_column(dict)
    status: AnnouncementStatus = Field(default=AnnouncementStatus.SCHEDULED, index=True, sa_type=sa.String(20))
    publish_at: datetime | None = _time_column(default=None)
    expires_at: datetime = _time_column()
    published_at: datetime | None = _time_column(default=None)
    ended_at: datetime | None = _time_column(default=None)
    created_at: datetime = _time_column(default_factory=utcnow, index=True)
    created_by: str | None = Field(default=None, max_length=32)
    targeted: int = 0  # screens the target reached when it went live
    audio: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    speech_status: str | None = Field(default=None, max_length=20)
    speech_error: str | None = Field(default=None, max_length=500)
    schedule_id: str | None = Field(default=None, max_length=32)  # the timed broadcast that made it
    images: list[dict[str, Any]] = _json_column(list)  # [{url, width, height}]: announcements/pictures.py
    recording: str | None = Field(default=None, max_length=200)  # played instead of speech: announcements/speech/recording.py
    cap: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # the CAP alert it came from: announcements/cap/intake.py
    drill: bool = False  # an exercise (演练), always an emergency; marked on every device: announcements/drills.py


OPEN_STATUSES = (AnnouncementStatus.SCHEDULED, AnnouncementStatus.LIVE)  # may still change or go out

# An announcement's `speech_status`: its clip is waiting for the speech worker, made, or could not be made; or it is
# a live call still in progress (broadcast_server/live.py), whose recording becomes its audio when it ends.
SPEECH_PENDING = "pending"
SPEECH_READY = "ready"
SPEECH_FAILED = "failed"
SPEECH_LIVE = "live"


def priority_order():
    """SQL ordering expression: emergency first, then high, normal, low; an unknown priority with normal (§7.1)."""
    return sa.case({p.value: p.rank for p in Priority}, value=Announcement.__table__.c.priority, else_=Priority.NORMAL.rank)


MAX_IMAGES = 4  # pictures on one notice (issue 11 §3)


class NoticePictures(SQLModel):
    """The pictures a client gives a notice (a post or a template): the urls POST /media answered."""

    images: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list,
        schema_extra={"json_schema_extra": {"maxItems": MAX_IMAGES}},
        description="urls answered by POST /media, shown in this order",
    )

    @field_validator("images")
    @classmethod
    def _few_images(cls, images: list[str]) -> list[str]:
        """At most MAX_IMAGES, refused with a code of its own that the console words (not pydantic's `too_long`)."""
        if len(images) > MAX_IMAGES:
            raise PydanticCustomError("images_too_many", "at most {max} pictures on one notice", {"max": MAX_IMAGES})
        return images


RECORDING_URL = "a url POST /media answered with kind audio: played instead of the text"
DRILL_NOT_EMERGENCY = "a drill (演练) is always an emergency: give priority emergency, or leave priority out"
DRILL_RECORDING = "a drill (演练) is spoken from its text, so the loudspeakers say it is a drill: post it without a recording"


class AnnouncementCreate(AnnouncementBase, NoticePictures):
    target: TargetSpec | None = None
    recording: str | None = Field(default=None, max_length=200, description=RECORDING_URL)
    publish_at: ClientDateTime | None = None
    expires_at: ClientDateTime | None = None
    drill: bool = Field(default=False, description="an exercise (演练): always priority emergency, marked 演练 on every device")

    @model_validator(mode="after")
    def _times_in_order(self) -> AnnouncementCreate:
        if self.publish_at and self.expires_at and self.expires_at <= self.publish_at:
            raise ValueError("expires_at must be after publish_at")
        return self

    @model_validator(mode="after")
    def _drill_rules(self) -> AnnouncementCreate:
        """A drill rehearses an emergency: its priority is emergency when left out, and any other is refused. It is
        spoken from its text, which the loudspeakers say between words marking it a drill; a recording would not be."""
        if self.drill:
            if "priority" in self.model_fields_set and self.priority != Priority.EMERGENCY:
                raise PydanticCustomError("drill_not_emergency", DRILL_NOT_EMERGENCY)
            if self.recording is not None:
                raise PydanticCustomError("drill_recording", DRILL_RECORDING)
            self.priority = Priority.EMERGENCY
        return self


class AnnouncementUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    priority: Priority | None = None
    expires_at: ClientDateTime | None = None


class Deliveries(SQLModel):
    targeted: int = 0
    received: int = 0
    displayed: int = 0
    played: int = 0


class AnnouncementPublic(AnnouncementBase):
    id: str
    revision: int
    status: AnnouncementStatus
    area: str
    target: TargetPublic
    publish_at: datetime | None
    expires_at: datetime
    published_at: datetime | None
    created_at: datetime
    audio: dict[str, Any] | None = None
    speech_status: str | None = None
    speech_error: str | None = None
    schedule_id: str | None = None
    images: list[Image] = Field(default_factory=list)
    recording: str | None = None
    drill: bool = False
    cap: CapAlertKey | None = None


class AnnouncementDetail(AnnouncementPublic):
    deliveries: Deliveries


class AnnouncementPage(SQLModel):
    items: list[AnnouncementPublic]
    next_cursor: str | None = None


# ---------------------------------------------------------------- events and delivery figures

class Event(SQLModel, table=True):
    """One change a screen must learn of; `seq` is the deployment-wide order."""

    __table_args__ = {"sqlite_autoincrement": True}  # a seq is never reused

    seq: int | None = Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})
    type: str = Field(max_length=30)
    target: dict[str, Any] = _json_column(dict)
    payload: dict[str, Any] = _json_column(dict)
    announcement_id: str | None = Field(default=None, index=True, max_length=32)
    created_at: datetime = _time_column(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """How far one announcement got on one screen (the `deliveries` figures)."""

    announcement_id: str = Field(primary_key=True, max_length=32)
    screen_id: str = Field(primary_key=True, max_length=32)
    received_at: datetime | None = _time_column(default=None)
    displayed_at: datetime | None = _time_column(default=None)
    played_at: datetime | None = _time_column(default=None)


class IdempotencyRecord(SQLModel, table=True):
    """`Idempotency-Key` of POST /announcements: the same key and body give the same announcement."""

    token_id: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=200)
    body_hash: str = Field(max_length=64)
    announcement_id: str = Field(max_length=32)
    created_at: datetime = _time_column(default_factory=utcnow)


# ---------------------------------------------------------------- timed broadcasts (定时广播): announcements/schedules.py

class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"  # by a person; final
    ENDED = "ended"  # the rule has no occurrence left; final


SCHEDULE_OPEN = (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)  # may still change


class ScheduleTemplate(AnnouncementBase):
    """What every occurrence says, and how long each stays up."""

    lifetime_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, description="how long each occurrence stays live")
    recording: str | None = Field(default=None, max_length=200, description=RECORDING_URL)


class Schedule(ScheduleTemplate, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    area: str = Field(max_length=600, index=True)  # the creator's scope: who may see and change it
    target: dict[str, Any] = _json_column(dict)
    rrule: str | None = Field(default=None, max_length=500, description="RRULE without DTSTART and UNTIL")
    dates: list[str] = _json_column(list)  # ISO dates, for "on given dates" (RDATE)
    starts_at: datetime = _time_column()  # DTSTART, stored in UTC; the rule runs in `timezone`'s local time
    until: str | None = Field(default=None, max_length=10)  # last local date (inclusive), ISO
    timezone: str = Field(max_length=60)
    status: ScheduleStatus = Field(default=ScheduleStatus.ACTIVE, sa_type=sa.String(20))
    next_at: datetime | None = _time_column(default=None, index=True)
    last_at: datetime | None = _time_column(default=None)  # the latest occurrence created
    created_at: datetime = _time_column(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=32)


class ScheduleWhen(SQLModel):
    """When a schedule fires (PROTOCOL.md's names): `rrule` or `dates`, from `dtstart` (local wall time in
    `timezone`) until `until`."""

    rrule: str | None = Field(
        default=None, min_length=1, max_length=500, description="RRULE, such as FREQ=DAILY;BYHOUR=6;BYMINUTE=30 or FREQ=WEEKLY;BYDAY=MO"
    )
    dates: list[date] = Field(default_factory=list, max_length=366)
    dtstart: ClientWallTime = Field(description="the first time, local wall time without an offset; a date alone is its midnight")
    until: date | None = Field(default=None, description="the last local date it may fire on (inclusive)")
    timezone: str | None = Field(default=None, max_length=60, description="an IANA zone; absent: the server's `timezone` setting")


class ScheduleCreate(ScheduleTemplate, ScheduleWhen):
    target: TargetSpec | None = None


class ScheduleUpdate(SQLModel):
    """PATCH /schedules/{id}: a field left out stays; `rrule` replaces `dates` and the other way round."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    priority: Priority | None = None
    category: str | None = Field(default=None, max_length=40)
    speak: bool | None = None
    repeat: int | None = Field(default=None, ge=1, le=5)
    lifetime_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    recording: str | None = Field(default=None, max_length=200, description=RECORDING_URL + "; null: speak the text again")
    target: TargetSpec | None = Field(default=None, description="whom the coming occurrences reach; empty: the editor's whole scope")
    rrule: str | None = Field(default=None, min_length=1, max_length=500)
    dates: list[date] | None = Field(default=None, max_length=366)
    dtstart: ClientWallTime | None = None
    until: date | None = Field(default=None, description="null: no end")
    timezone: str | None = Field(default=None, max_length=60)
    paused: bool | None = Field(default=None, description="true pauses, false resumes")


class SchedulePublic(ScheduleTemplate):
    id: str
    area: str
    target: TargetPublic
    rrule: str | None
    dates: list[str]
    dtstart: datetime = Field(description="the first time: wall time in `timezone`, with that zone's offset")
    until: str | None
    timezone: str
    paused: bool
    status: ScheduleStatus
    next_at: datetime | None
    last_at: datetime | None
    created_at: datetime


class Occurrence(SQLModel):
    schedule_id: str
    title: str
    priority: str
    at: datetime
    time: str = Field(description="local HH:MM")
    status: ScheduleStatus


class UpcomingDay(SQLModel):
    day: date
    occurrences: list[Occurrence]


# ---------------------------------------------------------------- notice templates (模板): announcements/templates.py

TEMPLATE_NAME_MAX = 40


def _template_name(name: Any) -> Any:
    """A name as the clerk means it (surrounding spaces dropped), 1 to TEMPLATE_NAME_MAX characters, refused with a
    code of its own: pydantic's `string_too_short` would be worded as the sign-in name's."""
    if not isinstance(name, str):
        return name
    name = name.strip()
    if not 1 <= len(name) <= TEMPLATE_NAME_MAX:
        raise PydanticCustomError("template_name_length", "a template's name is 1 to {max} characters", {"max": TEMPLATE_NAME_MAX})
    return name


class NoticeTemplate(AnnouncementBase, table=True):
    """A notice kept to start new ones from; everything a post says but its times."""

    __tablename__ = "notice_template"
    __table_args__ = (sa.UniqueConstraint("area", "name", name="uq_notice_template_area_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=TEMPLATE_NAME_MAX)
    area: str = Field(max_length=600, index=True)  # the maker's scope: who may change it; the areas below may use it
    target: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # as given; null: whoever uses it, their own area
    images: list[dict[str, Any]] = _json_column(list)  # [{url, width, height}], as an announcement's
    created_at: datetime = _time_column(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=32)


class TemplateCreate(AnnouncementBase, NoticePictures):
    name: str = Field(
        schema_extra={"json_schema_extra": {"minLength": 1, "maxLength": TEMPLATE_NAME_MAX}},
        description="unique within the maker's area",
    )
    target: TargetSpec | None = Field(default=None, description="null: whoever uses the template posts to their own area")

    _name = field_validator("name", mode="before")(_template_name)


class TemplateUpdate(SQLModel):
    """PATCH /templates/{id}: the fields given are laid over the stored template and the whole is checked as
    POST checks a new one (announcements/templates.py), so the rules are written once."""

    name: str | None = None
    title: str | None = None
    body: str | None = None
    priority: Priority | None = None
    category: str | None = None
    language: Language | None = None
    speak: bool | None = None
    repeat: int | None = None
    target: TargetSpec | None = None
    images: list[str] | None = None


class TemplatePublic(AnnouncementBase):
    id: str
    name: str
    area: str = Field(description="the maker's scope; a template from above it is the caller's to use, not to change")
    target: TargetPublic | None
    images: list[Image] = Field(default_factory=list)
    created_at: datetime
    created_by: str | None = None
    editable: bool = Field(default=False, description="whether the caller may change or delete it (made in its scope)")


class KioskDwell(SQLModel):
    """PUT /areas/{path}/kiosk-dwell: seconds a kiosk shows each notice; null: inherit (default 10)."""

    kiosk_dwell_s: int | None = Field(ge=3, le=600)


# ---------------------------------------------------------------- pronunciations (读音): announcements/pronunciations.py

PRONUNCIATION_WORD_MAX = 20
PRONUNCIATION_SAY_MAX = 40
_HANZI = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# A pinyin syllable with its tone digit (5: neutral), ü written v: eSpeak NG's Mandarin voice reads it as the character.
_PINYIN = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|uai|iao|ian|uan|van|ai|ei|ao|ou|an|en|in|un|vn|ia|ie|iu|ua|uo|ui|ue|ve|er|[aoeiuv])"
    r"[1-5]"
)
_WORD = re.compile(rf"[{_HANZI}]{{1,{PRONUNCIATION_WORD_MAX}}}")
_SAY = re.compile(rf"(?:[{_HANZI}]|{_PINYIN}|\x20(?=\S))+")


def _pronunciation_word(word: Any) -> Any:
    """Chinese characters only: the list is matched in Chinese text, and a digit or a Latin letter there is said by
    the number rules (normalize.py), not by this list."""
    if not isinstance(word, str):
        return word
    word = word.strip()
    if not _WORD.fullmatch(word):
        raise PydanticCustomError(
            "pronunciation_word", "a word is 1 to {max} Chinese characters", {"max": PRONUNCIATION_WORD_MAX}
        )
    return word


def _pronunciation_say(say: Any) -> Any:
    """Characters, or pinyin with tone digits (shan4 xian4), which eSpeak NG's Mandarin voice reads as characters;
    anything else it would spell out letter by letter in English."""
    if not isinstance(say, str):
        return say
    say = " ".join(say.lower().split())
    if not (len(say) <= PRONUNCIATION_SAY_MAX and _SAY.fullmatch(say)):
        raise PydanticCustomError(
            "pronunciation_say",
            "what to say is 1 to {max} Chinese characters or pinyin syllables with a tone digit (shan4)",
            {"max": PRONUNCIATION_SAY_MAX},
        )
    return say


class Pronunciation(SQLModel, table=True):
    """A word eSpeak NG says wrong (a place or family name) and what to give it instead, for the whole deployment."""

    word: str = Field(primary_key=True, max_length=PRONUNCIATION_WORD_MAX)
    say: str = Field(max_length=PRONUNCIATION_SAY_MAX)
    created_by: str | None = Field(default=None, max_length=32)
    updated_at: datetime = _time_column(default_factory=utcnow)


class PronunciationSay(SQLModel):
    """PUT /pronunciations/{word}: what to say instead of the word."""

    say: str = Field(
        schema_extra={"json_schema_extra": {"minLength": 1, "maxLength": PRONUNCIATION_SAY_MAX}},
        description="Chinese characters that sound right (善县), or pinyin with tone digits (shan4 xian4; ü as v)",
    )

    _say = field_validator("say", mode="before")(_pronunciation_say)


class PronunciationEntry(PronunciationSay):
    """A word and what to say, both checked: what is stored."""

    word: str = Field(description=f"1 to {PRONUNCIATION_WORD_MAX} Chinese characters, matched literally, longest first")

    _word = field_validator("word", mode="before")(_pronunciation_word)


class PronunciationPublic(SQLModel):
    word: str
    say: str
    created_by: str | None = None
    updated_at: datetime


# ---------------------------------------------------------------- media shared by replicas: announcements/mediastore.py

class MediaPart(SQLModel, table=True):
    """A piece of a media file (a clip's MP3, Ogg or record, a picture, a recording), kept for every replica.

    A file's pieces (numbered from 0, at most mediastore.PART_BYTES each) are written in one transaction: a name
    has all of its pieces or none. `modified_ns` is the file's time on the replica that made it, given to every copy.
    """

    __tablename__ = "media_part"

    name: str = Field(primary_key=True, max_length=80)
    part: int = Field(primary_key=True)
    data: bytes = Field(sa_type=sa.LargeBinary)
    modified_ns: int = Field(sa_type=sa.BigInteger)


# ---------------------------------------------------------------- CAP alerts taken in: announcements/cap/

class CapOutcome(StrEnum):
    """What taking in a CAP alert did."""

    CREATED = "created"  # announcements made (an Alert; an Update of nothing still on)
    UPDATED = "updated"  # the announcements of the alert it references revised (an Update)
    CANCELLED = "cancelled"  # those announcements retracted (a Cancel)
    STORED = "stored"  # kept, not broadcast: Draft, System, Ack, Error
    UNMATCHED = "unmatched"  # kept, not broadcast: it names no area configured here (an admin may give one its code)


class CapAlert(SQLModel, table=True):
    """Every CAP alert taken in (POST /cap), once per (sender, identifier, sent), with what it did."""

    __tablename__ = "cap_alert"
    __table_args__ = (sa.UniqueConstraint("sender", "identifier", "sent", name="uq_cap_alert_sender_identifier_sent"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    sender: str = Field(max_length=255)
    identifier: str = Field(max_length=255)
    sent: datetime = _time_column()
    status: str = Field(max_length=20)  # CAP's <status>: Actual, Exercise, System, Test, Draft
    msg_type: str = Field(max_length=20)  # CAP's <msgType>: Alert, Update, Cancel, Ack, Error
    references: list[str] = _json_column(list)  # "sender,identifier,sent" of the alerts it updates or cancels
    headline: str | None = Field(default=None, max_length=200)  # of the <info> taken, for the admins' list
    outcome: CapOutcome = Field(sa_type=sa.String(20))
    reason: str | None = Field(default=None, max_length=500)  # why nothing was broadcast
    named_areas: list[str] = _json_column(list)  # the <areaDesc> and <geocode> values it gave
    areas: list[str] = _json_column(list)  # the area paths they matched
    announcement_ids: list[str] = _json_column(list)  # made, revised or retracted
    area: str = Field(max_length=600, index=True)  # the poster's scope: the admins who see it in GET /cap/alerts
    received_at: datetime = _time_column(default_factory=utcnow, index=True)
    received_by: str | None = Field(default=None, max_length=32)  # the token (or user) that posted it
    document: str = Field(sa_type=sa.Text)  # the alert as read


class CapTaken(SQLModel):
    """The answer to POST /cap: the alert, what it did, and the announcements it made, revised or retracted."""

    alert: CapAlertKey
    outcome: CapOutcome
    announcements: list[str]
    areas: list[str] = Field(description="the area paths the alert matched")
    duplicate: bool = Field(default=False, description="taken in before: nothing new was done (the earlier outcome)")
    reason: str | None = Field(default=None, description="why nothing was broadcast")


class CapAlertPublic(SQLModel):
    id: str
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: list[str]
    headline: str | None
    outcome: CapOutcome
    reason: str | None
    named_areas: list[str]
    areas: list[str]
    announcement_ids: list[str]
    area: str = Field(description="the scope of the token or user that posted it")
    received_at: datetime
    received_by: str | None


class CapAlertPage(SQLModel):
    items: list[CapAlertPublic]
    next_cursor: str | None = None
