"""The WebSocket messages of docs/protocol.md §3, as pydantic models and pure builders.

No I/O here: the server's hub and the screen client both parse and build frames with this module,
so the wire format lives in one place and can be tested without a socket.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError, model_validator

from announcements import clientinput
from announcements.clientinput import JSONRejected
from announcements.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited

PROTOCOL_VERSION = 1

class CloseCode(IntEnum):
    """Every WebSocket close code the server or the screen client sends (docs/protocol.md §3.11)."""

    GOING_AWAY = 1001  # the server is shutting down, or the client gave up on a silent link
    SLOW_CONSUMER = 1013  # "try again later": the screen fell too far behind; it resumes by seq
    BAD_HELLO = 4400  # the first frame was not a valid hello
    UNAUTHORIZED = 4401  # the token is unknown, revoked or not a screen's
    HELLO_TIMEOUT = 4408  # no hello in time
    REPLACED = 4409  # another connection of the same screen took over


class ErrorCode(StrEnum):
    """The one table of error codes sent in `error` messages."""

    INVALID = "invalid"
    UNKNOWN_TYPE = "unknown_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    BUSY = "busy"  # a live call: someone else is talking to one of these areas (PROTOCOL.md 1.1)


# ---------------------------------------------------------------- vocabulary
#
# The words the server and the screens share. The server checks what it is given against these; a screen
# keeps the values it is sent as plain strings (AnnouncementPayload, Welcome, Retract, RequestUpdate), so a value
# added later never stops an older screen from reading a message (§3.4, §7.1). The console and the kiosk
# import the same lists from broadcast_server/static/shared/vocabulary.js (tests/web/test_vocabulary.py
# keeps the two alike). Comments rather than docstrings: a docstring would become a description in the
# served OpenAPI document.


class Priority(StrEnum):
    # Most urgent first: the order screens show and play in (§7.1).
    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Smaller goes first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {priority: rank for rank, priority in enumerate(Priority)}


def priority_rank(priority: str) -> int:
    """Where a priority as received sorts, smaller first; one this side does not know sorts with `normal` (§7.1)."""
    return _PRIORITY_RANK.get(priority, Priority.NORMAL.rank)


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class ScreenKind(StrEnum):
    SCREEN = "screen"
    SPEAKER = "speaker"


class ReceiptState(StrEnum):
    # How far an announcement got on a screen, each state implying the ones before it (§3.6).
    RECEIVED = "received"
    DISPLAYED = "displayed"
    PLAYED = "played"


class AudioSource(StrEnum):
    # What an announcement's audio is (PROTOCOL.md 1.1 `audio.source`).
    SPEECH = "speech"  # synthesized from the text
    RECORDING = "recording"  # a cadre's recording, uploaded or made in the console
    LIVE = "live"  # the record of a live call (实时喊话)


class LiveState(StrEnum):
    STARTED = "started"
    ENDED = "ended"


class RetractReason(StrEnum):
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RequestCategory(StrEnum):
    # What a villager's reply is about: the category of the request it becomes (§3.7).
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"
    HELP = "help"
    DISPUTE = "dispute"
    QUESTION = "question"
    OTHER = "other"


class RequestStatus(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


class Rating(StrEnum):
    # A villager's answer to "are you satisfied?" about a resolved request (§3.8 `feedback`).
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class ProtocolError(Exception):
    """A client frame that cannot be accepted; answered with an `error` message, never a dropped connection."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None, *, retry_after_s: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_s = retry_after_s

    @classmethod
    def of(cls, exc: DomainError, ref: str | None = None) -> ProtocolError:
        """The wire form of a domain error: its one error code, and when to retry if it was rate limited."""
        retry_after_s = exc.retry_after_s if isinstance(exc, RateLimited) else None
        return cls(_DOMAIN_CODES.get(type(exc), ErrorCode.INVALID), exc.detail, ref, retry_after_s=retry_after_s)

    def frame(self) -> str:
        return error_frame(self.code, self.message, self.ref, retry_after_s=self.retry_after_s)


_DOMAIN_CODES: dict[type[DomainError], ErrorCode] = {
    Invalid: ErrorCode.INVALID,
    NotFound: ErrorCode.NOT_FOUND,
    Forbidden: ErrorCode.FORBIDDEN,
    Conflict: ErrorCode.CONFLICT,
    RateLimited: ErrorCode.RATE_LIMITED,
}


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- client to server

class ClientInfo(_Message):
    name: str = Field(default="", max_length=200)
    version: str = Field(default="", max_length=50)


class Hello(_Message):
    type: Literal["hello"]
    token: str = Field(min_length=1, max_length=200)
    last_seq: int | None = Field(default=None, ge=0)
    client: ClientInfo = Field(default_factory=ClientInfo)


class Ack(_Message):
    type: Literal["ack"]
    seq: StrictInt = Field(ge=0)


class Receipt(_Message):
    """How far an announcement got on the screen; for a live call (PROTOCOL.md 1.1) `call_id` names it instead."""

    type: Literal["receipt"]
    announcement_id: str | None = Field(default=None, min_length=1, max_length=64)
    call_id: str | None = Field(default=None, min_length=1, max_length=64)
    state: ReceiptState

    @model_validator(mode="after")
    def _names_one(self) -> Receipt:
        if (self.announcement_id is None) == (self.call_id is None):
            raise ValueError("a receipt names either announcement_id or call_id")
        return self

    @property
    def subject(self) -> str:
        """The announcement it reports on: a live call is kept as the announcement of the same id."""
        return self.announcement_id or self.call_id or ""


class Contact(_Message):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)


class Reply(_Message):
    type: Literal["reply"]
    client_msg_id: str = Field(min_length=1, max_length=100)
    announcement_id: str | None = Field(default=None, max_length=64)
    category: RequestCategory
    text: str = Field(min_length=1, max_length=1000)
    contact: Contact | None = None


class Feedback(_Message):
    type: Literal["feedback"]
    ticket: str = Field(min_length=1, max_length=40)
    rating: Rating
    comment: str | None = Field(default=None, max_length=1000)


class Ping(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[
    Hello | Ack | Receipt | Reply | Feedback | Ping, Field(discriminator="type")
]
CLIENT_TYPES = frozenset({"hello", "ack", "receipt", "reply", "feedback", "ping"})
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line naming each bad field, e.g. `seq: Input should be greater than or equal to 0`."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p not in CLIENT_TYPES) or "frame"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _rejected(exc: JSONRejected, ref: str | None = None) -> ProtocolError:
    """The `invalid` error for a frame's JSON, naming the field when one string is the problem."""
    if exc.loc is None:
        return ProtocolError(ErrorCode.INVALID, f"frame is {exc.message}", ref)
    return ProtocolError(ErrorCode.INVALID, f"{'.'.join(map(str, exc.loc)) or 'frame'}: {exc.message}", ref)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client frame, raising ProtocolError with the field named when it is not acceptable.

    Never anything else: a frame nested thousands deep is an `invalid` like any other, so the hub
    answers it (and closes only for a hello) instead of losing the connection to a RecursionError.
    """
    try:
        data = clientinput.parse(text)
    except JSONRejected as exc:
        raise _rejected(exc) from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID, "frame must be a JSON object with a 'type'")
    msg_id = data.get("client_msg_id")
    # The ref is echoed in the error, so only a client_msg_id that is text can be one.
    ref = msg_id if isinstance(msg_id, str) and clientinput.text_problem(msg_id) is None else None
    try:
        clientinput.check(data, text)
    except JSONRejected as exc:
        raise _rejected(exc, ref) from None
    kind = data.get("type")
    seq = data.get("seq")
    if kind == "ack" and type(seq) is int and seq >= 0:
        return Ack.model_construct(type="ack", seq=seq)  # the hot path: every screen acks every event
    if kind not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}", ref)
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.INVALID, describe_validation_error(exc), ref) from None


# ---------------------------------------------------------------- server to client

class AudioAlternative(_Message):
    url: str
    format: str


class Audio(_Message):
    url: str
    format: str
    duration_s: float
    repeat: int
    alternatives: list[AudioAlternative] = Field(default_factory=list)  # addition: e.g. Ogg Opus for slow links
    source: str = Field(default=AudioSource.SPEECH, description="one of AudioSource: speech, recording or live (PROTOCOL.md 1.1)")


class Image(_Message):
    """A picture of the notice (PROTOCOL.md 1.1), as stored by POST /media: a version-1 screen ignores `images`."""

    url: str = Field(description="/media/<sha256 of the stored bytes>.jpg, or .png when it has transparency")
    width: int
    height: int


class CapAlertKey(_Message):
    """A CAP alert by its identity (PROTOCOL.md 1.1): the alert an announcement came from, or one taken in."""

    identifier: str
    sender: str
    sent: datetime


class AnnouncementPayload(_Message):
    """What a screen is told about one announcement (one revision of it)."""

    id: str
    revision: int
    title: str
    body: str
    priority: str  # one of Priority; a str so a client keeps working if a priority is added (§7.1)
    category: str | None = None  # free text, not a vocabulary
    language: str = "zh"  # one of Language; a str likewise
    published_at: datetime | None = None
    expires_at: datetime | None = None
    audio: Audio | None = None
    schedule_id: str | None = None  # the timed broadcast that made it (PROTOCOL.md 1.1)
    images: list[Image] = Field(default_factory=list)  # PROTOCOL.md 1.1, shown beside the text
    drill: bool = False  # PROTOCOL.md 1.1: an exercise (演练); the title and the speech already say so (docs/protocol.md §2.9.10)
    cap: CapAlertKey | None = None  # PROTOCOL.md 1.1: the CAP alert it came from (its latest revision's), if any


class QuietHoursInfo(_Message):
    """Addition: the daily span when this screen's area plays only emergencies (local times)."""

    start: str
    end: str
    timezone: str


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    screen_id: str
    area: str
    area_name: str | None = None  # addition: the area's name, for people to read (the path is an id)
    kind: str  # one of ScreenKind; a str so a client keeps working if a kind is added
    server_time: datetime
    head_seq: int
    quiet_hours: QuietHoursInfo | None = None
    kiosk_dwell_s: int | None = None  # addition: seconds a kiosk shows each notice in this area; null: its default


class Synced(_Message):
    type: Literal["synced"] = "synced"
    head_seq: int
    reset: bool = False


class AnnouncementEvent(_Message):
    type: Literal["announcement"] = "announcement"
    seq: int
    announcement: AnnouncementPayload


class Retract(_Message):
    type: Literal["retract"] = "retract"
    seq: int
    announcement_id: str
    reason: str  # one of RetractReason; a str so a client keeps working if a reason is added


class RequestUpdate(_Message):
    type: Literal["request_update"] = "request_update"
    seq: int
    ticket: str
    status: str  # one of RequestStatus; a str so a client keeps working if a status is added
    response: str | None = None


class AreaInfo(_Message):
    """What a screen shows of its area: as in `welcome`."""

    area_name: str | None = None
    kiosk_dwell_s: int | None = None


class AreaUpdate(_Message):
    """Addition: areas renamed or given a new kiosk dwell, each with its values as they now are, so a connected
    screen shows them without reconnecting. A screen reads the entry of its own area (`welcome.area`), if any."""

    type: Literal["area"] = "area"
    seq: int
    areas: dict[str, AreaInfo]


class LiveEvent(_Message):
    """A live call (实时喊话, PROTOCOL.md 1.1): play `stream_url` from `started` until `ended` of the same call_id,
    interrupting anything but an emergency. `caller_name` is an addition, for a kiosk to say who is talking."""

    type: Literal["live"] = "live"
    seq: int
    call_id: str
    state: str  # one of LiveState; a str so a client keeps working if a state is added
    priority: str | None = None
    areas: list[str] = Field(default_factory=list)
    stream_url: str | None = None
    caller_name: str | None = None


class ReplyResult(_Message):
    type: Literal["reply_result"] = "reply_result"
    client_msg_id: str
    ticket: str


class Error(_Message):
    type: Literal["error"] = "error"
    code: str  # one of ErrorCode; a str so a client keeps working if a code is added
    message: str = ""
    ref: str | None = None
    retry_after_s: int | None = None  # addition: with `rate_limited`, when to send again


class Pong(_Message):
    type: Literal["pong"] = "pong"


ServerMessage = Annotated[
    Welcome | Synced | AnnouncementEvent | Retract | RequestUpdate | AreaUpdate | LiveEvent | ReplyResult | Error | Pong,
    Field(discriminator="type"),
]
_server_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
SERVER_TYPES = frozenset(
    {"welcome", "synced", "announcement", "retract", "request_update", "area", "live", "reply_result", "error", "pong"}
)


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one server frame (the client side); raises ProtocolError for anything unreadable."""
    try:
        data = clientinput.parse(text)  # bounded too: a broken server must not crash a screen by recursion
    except JSONRejected as exc:
        raise _rejected(exc) from None
    if not isinstance(data, dict) or data.get("type") not in SERVER_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {data.get('type') if isinstance(data, dict) else None!r}")
    try:
        return _server_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.INVALID, describe_validation_error(exc)) from None


def encode(message: BaseModel) -> str:
    """One JSON text frame (compact, UTF-8 kept as is)."""
    return message.model_dump_json(exclude_none=False)


def error_frame(code: ErrorCode, message: str, ref: str | None = None, *, retry_after_s: int | None = None) -> str:
    error = Error(code=code, message=message, ref=ref, retry_after_s=retry_after_s)
    return error.model_dump_json(exclude={"retry_after_s"} if retry_after_s is None else None)
