"""One CAP 1.2 alert read from bytes: safely (a hardened parser), checked against the OASIS schema, and
returned as the typed values the mapping needs. Anything else is refused with the reason (refusals.py).

The parser resolves no entity, loads no DTD, reaches no network and keeps libxml2's limits on depth and
text size; a DOCTYPE is refused outright (CAP has none, and it is where entity expansion attacks live).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import xmlschema
from lxml import etree

from announcements.cap.refusals import CapRefused, Refusal
from announcements.timeutil import within_client_range

CAP_1_2 = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")  # what an alert is sent or linked as, first the best
_OTHER_CAP_VERSIONS = {
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "urn:oasis:names:tc:emergency:cap:1.0": "1.0",
    "http://www.incident.com/cap/1.0": "1.0",
}
_NS = {"cap": CAP_1_2}
SCHEMA = Path(__file__).with_name("cap12.xsd")  # the OASIS CAP 1.2 schema, as published
MAX_KEY_CHARS = 255  # the longest sender or identifier kept (the cap_alert columns)
MAX_SCHEMA_ERRORS = 5  # named in one refusal; a broken alert could have thousands
DEFAULT_LANGUAGE = "en-US"  # CAP 1.2 §3.2.2: an <info> without <language>


class Status(StrEnum):
    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


@dataclass(frozen=True)
class Reference:
    """One entry of `<references>`: the earlier alert an Update or a Cancel is about."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class Geocode:
    value_name: str
    value: str


@dataclass(frozen=True)
class AlertArea:
    desc: str
    geocodes: tuple[Geocode, ...]


@dataclass(frozen=True)
class Info:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None
    description: str | None
    instruction: str | None
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    areas: tuple[AlertArea, ...]


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    references: tuple[Reference, ...]
    infos: tuple[Info, ...]
    document: str = field(repr=False)  # the alert as read, as text: what is kept

    @property
    def drill(self) -> bool:
        """An exercise or a test (CAP's Exercise, Test): broadcast as a drill (演练)."""
        return self.status in (Status.EXERCISE, Status.TEST)

    @property
    def broadcast(self) -> bool:
        """Whether it is meant for the public at all: Draft and System alerts, Acks and Errors are only kept."""
        return self.status not in (Status.DRAFT, Status.SYSTEM) and self.msg_type not in (MsgType.ACK, MsgType.ERROR)


@functools.cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA)


DOCTYPE_REFUSED = "a DOCTYPE is not allowed in a CAP alert"


class _NothingOutside(etree.Resolver):
    """Refuses every outside resource a document names (an external DTD or entity, a file or a URL): libxml2 would
    otherwise read a local file named as the external subset even with load_dtd off."""

    def resolve(self, url, public_id, context):
        raise CapRefused(Refusal.DOCTYPE, f"{DOCTYPE_REFUSED}; it names an outside resource, which was not read")


def _parser() -> etree.XMLParser:
    # One per call: an lxml parser is not for sharing between threads.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True, collect_ids=False,
    )
    parser.resolvers.add(_NothingOutside())
    return parser


async def read_alert(data: bytes, *, max_bytes: int) -> Alert:
    """The alert in `data`, or CapRefused saying why not; parsed and validated in a thread, off the event loop."""
    return await asyncio.to_thread(parse_alert, data, max_bytes=max_bytes)


def parse_alert(data: bytes, *, max_bytes: int) -> Alert:
    """The alert in `data`, or CapRefused saying why not."""
    if len(data) > max_bytes:
        raise CapRefused(Refusal.TOO_LARGE, f"the alert is larger than {max_bytes} bytes")
    root = parse_xml(data)
    _check_version(root)
    _validate(root)
    return _alert(root)


def parse_xml(data: bytes) -> etree._Element:
    """The root of `data`, read by the hardened parser; CapRefused when it is not well-formed or has a DOCTYPE."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise CapRefused(Refusal.NOT_XML, f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise CapRefused(Refusal.DOCTYPE, DOCTYPE_REFUSED)
    return root


def _check_version(root: etree._Element) -> None:
    name = etree.QName(root)
    if name.localname == "alert" and name.namespace == CAP_1_2:
        return
    if name.localname == "alert" and name.namespace in _OTHER_CAP_VERSIONS:
        version = _OTHER_CAP_VERSIONS[name.namespace]
        raise CapRefused(Refusal.NOT_1_2, f"a CAP {version} alert ({name.namespace}); this server takes CAP 1.2 ({CAP_1_2})")
    raise CapRefused(Refusal.NOT_CAP, f"not a CAP alert: the root element is {name.text}, not <alert> in {CAP_1_2}")


def _short(reason: str) -> str:
    """xmlschema's reason without the namespace written out at each tag."""
    return reason.replace("{" + CAP_1_2 + "}", "cap:")


def _validate(root: etree._Element) -> None:
    errors = []
    for error in _schema().iter_errors(root, use_location_hints=False):
        path = [part for part in (error.path or "").split("/") if part]
        line = f" (line {error.sourceline})" if getattr(error, "sourceline", None) else ""
        errors.append({"loc": path, "msg": _short(error.reason or "invalid") + line, "type": Refusal.SCHEMA_INVALID.value})
        if len(errors) == MAX_SCHEMA_ERRORS:
            break
    if errors:
        first = errors[0]
        refused = CapRefused(Refusal.SCHEMA_INVALID, f"not valid CAP 1.2: {first['msg']}", loc=first["loc"])
        refused.errors = errors
        raise refused


def _text(parent: etree._Element, name: str) -> str | None:
    """The stripped text of the child `name`, or None when there is none (or it is empty)."""
    child = parent.find(f"cap:{name}", _NS)
    text = (child.text or "").strip() if child is not None else ""
    return text or None


def _time(text: str | None, loc: list) -> datetime | None:
    if text is None:
        return None
    try:
        return within_client_range(datetime.fromisoformat(text))
    except ValueError as exc:
        raise CapRefused(Refusal.TIMES_INVALID, f"{text!r} is not a time this server takes: {exc}", loc=loc) from None


def _key(text: str | None, name: str) -> str:
    """A sender or identifier: part of the alert's identity, so never blank, and short enough to keep."""
    if not text:
        raise CapRefused(Refusal.SCHEMA_INVALID, f"<{name}> is empty", loc=["alert", name])
    if len(text) > MAX_KEY_CHARS:
        raise CapRefused(Refusal.TOO_LONG, f"<{name}> is longer than {MAX_KEY_CHARS} characters", loc=["alert", name])
    return text


_REFERENCE = re.compile(r"[^,]+,[^,]+,[^,]+")


def _references(text: str | None) -> tuple[Reference, ...]:
    """CAP 1.2 §3.2.1: space-separated "sender,identifier,sent" entries."""
    references = []
    for entry in (text or "").split():
        if not _REFERENCE.fullmatch(entry):
            msg = f"{entry[:80]!r} is not sender,identifier,sent"
            raise CapRefused(Refusal.REFERENCES_INVALID, msg, loc=["alert", "references"])
        sender, identifier, sent = entry.split(",")
        references.append(Reference(sender=sender, identifier=identifier, sent=_time(sent, ["alert", "references"])))
    return tuple(references)


def _area(element: etree._Element) -> AlertArea:
    geocodes = tuple(
        Geocode(value_name=_text(g, "valueName") or "", value=_text(g, "value") or "") for g in element.findall("cap:geocode", _NS)
    )
    return AlertArea(desc=_text(element, "areaDesc") or "", geocodes=geocodes)


def _info(element: etree._Element, index: int) -> Info:
    loc = ["alert", f"info[{index}]"]
    return Info(
        language=_text(element, "language") or DEFAULT_LANGUAGE,
        categories=tuple((c.text or "").strip() for c in element.findall("cap:category", _NS)),
        event=_text(element, "event") or "",
        urgency=_text(element, "urgency") or "Unknown",
        severity=_text(element, "severity") or "Unknown",
        certainty=_text(element, "certainty") or "Unknown",
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        instruction=_text(element, "instruction"),
        effective=_time(_text(element, "effective"), [*loc, "effective"]),
        onset=_time(_text(element, "onset"), [*loc, "onset"]),
        expires=_time(_text(element, "expires"), [*loc, "expires"]),
        areas=tuple(_area(a) for a in element.findall("cap:area", _NS)),
    )


def _alert(root: etree._Element) -> Alert:
    """The values of a schema-valid alert (required elements are there; their text may still be blank)."""
    return Alert(
        identifier=_key(_text(root, "identifier"), "identifier"),
        sender=_key(_text(root, "sender"), "sender"),
        sent=_time(_text(root, "sent"), ["alert", "sent"]),
        status=Status(_text(root, "status")),
        msg_type=MsgType(_text(root, "msgType")),
        references=_references(_text(root, "references")),
        infos=tuple(_info(e, i) for i, e in enumerate(root.findall("cap:info", _NS), start=1)),
        document=etree.tostring(root, encoding="unicode"),
    )
