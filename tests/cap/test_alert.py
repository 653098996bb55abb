"""Reading one CAP alert: the fixtures are what the OASIS schema says they are; hostile or broken XML is refused
with its own reason before anything reads it further."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema

from announcements.cap.alert import MsgType, Status, parse_alert
from announcements.cap.refusals import CapRefused
from tests.cap.alerts import FIXTURES, fixture

OASIS_SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "cap-1.2" / "cap12.xsd"
INVALID = {"heatwave-cap11.xml", "gale-missing-urgency.xml"}  # written to be refused
LIMIT = 512 * 1024


@pytest.fixture(scope="module")
def oasis():
    if not OASIS_SCHEMA.is_file():
        problem = f"the OASIS CAP 1.2 schema is not at {OASIS_SCHEMA}"
        if os.environ.get("VB_TEST_REQUIRE_SCHEMAS") == "1":  # CI: a missing schema is a failure, never a skip
            pytest.fail(problem)
        pytest.skip(problem)
    return xmlschema.XMLSchema(OASIS_SCHEMA)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_each_fixture_is_valid_cap_1_2_unless_written_to_be_refused(oasis, name):
    """The published schema (not the copy the server ships) passes the fixtures the tests post as valid."""
    assert oasis.is_valid(str(FIXTURES / name)) is (name not in INVALID)


def test_the_shipped_schema_is_the_published_one(oasis):
    from announcements.cap.alert import SCHEMA

    assert SCHEMA.read_bytes() == OASIS_SCHEMA.read_bytes()


def test_an_alert_is_read_into_what_the_mapping_needs():
    alert = parse_alert(fixture("rainstorm-red-cancel.xml"), max_bytes=LIMIT)
    assert (alert.sender, alert.status, alert.msg_type, alert.drill, alert.broadcast) == (
        "330108000000@12379.cn", Status.ACTUAL, MsgType.CANCEL, False, True,
    )
    assert [(r.identifier, r.sent) for r in alert.references] == [
        ("33010841600000_20260718140500", datetime.fromisoformat("2026-07-18T14:05:00+08:00")),
        ("33010841600000_20260718170500", datetime.fromisoformat("2026-07-18T17:05:00+08:00")),
    ]
    [info] = parse_alert(fixture("rainstorm-red.xml"), max_bytes=LIMIT).infos[1:]
    assert (info.language, info.severity, info.urgency, info.certainty) == ("zh-CN", "Extreme", "Immediate", "Observed")
    assert [(a.desc, [g.value for g in a.geocodes]) for a in info.areas] == [("刘井屯村", ["330108001001"]), ("新村", ["330108001002"])]
    assert parse_alert(fixture("flood-drill-exercise.xml"), max_bytes=LIMIT).drill


def _alert(head: str = "", references: str = "", sent: str = "2026-07-18T14:05:00+08:00", identifier: str = "id-1") -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    return (
        f'{head}<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier><sender>s@example</sender>'
        f"<sent>{sent}</sent><status>Draft</status><msgType>Update</msgType><scope>Public</scope>{refs}</alert>"
    ).encode()


@pytest.mark.parametrize(
    ("data", "code", "said"),
    [
        (b"", "cap_not_xml", "not well-formed"),
        (b"<alert", "cap_not_xml", "not well-formed"),
        (_alert('<!DOCTYPE alert [<!ENTITY x SYSTEM "http://192.0.2.1/x">]>'), "cap_doctype", "DOCTYPE"),
        (_alert('<!DOCTYPE alert SYSTEM "http://192.0.2.1/cap.dtd">'), "cap_doctype", "DOCTYPE"),
        (_alert('<!DOCTYPE alert SYSTEM "/etc/passwd">'), "cap_doctype", "not read"),
        (_alert('<!DOCTYPE alert [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'), "cap_doctype", "not read"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "cap_not_cap", "{http://www.w3.org/2005/Atom}feed"),
        (b'<alert xmlns="http://www.incident.com/cap/1.0"/>', "cap_not_1_2", "CAP 1.0"),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>', "cap_schema_invalid", "sender"),
        (_alert(sent="2026-07-18 14:05"), "cap_schema_invalid", "sent"),
        (_alert(sent="1999-12-31T23:00:00+08:00"), "cap_times_invalid", "between"),
        (_alert(references="s@example,only-two"), "cap_references_invalid", "sender,identifier,sent"),
        (_alert(references="s@example,id-0,yesterday"), "cap_times_invalid", "yesterday"),
        (_alert(identifier=" "), "cap_schema_invalid", "empty"),
        (_alert(identifier="x" * 300), "cap_too_long", "255"),
        (_alert() + b" " * LIMIT, "cap_too_large", str(LIMIT)),
    ],
)
def test_a_broken_or_hostile_alert_is_refused_saying_why(data, code, said):
    with pytest.raises(CapRefused) as refused:
        parse_alert(data, max_bytes=LIMIT)
    assert refused.value.errors[0]["type"] == code and said in refused.value.detail, refused.value.detail


def test_an_entity_is_never_expanded():
    """A billion-laughs alert is refused (by libxml2's amplification guard, else at its DOCTYPE) without growing."""
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = _alert(f'<!DOCTYPE alert [<!ENTITY l0 "ha">{laughs}]>').replace(b"id-1", b"&l9;")
    with pytest.raises(CapRefused) as refused:
        parse_alert(data, max_bytes=LIMIT)
    assert refused.value.code in ("cap_not_xml", "cap_doctype")
