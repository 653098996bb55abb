"""CAP 1.2 out (issue 14 §2): an emergency's Alert, Update and Cancel, valid against the OASIS schema, in the public
Atom feed and behind its links; what is not public (a village notice, another area's) never shows through."""

import os
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import xmlschema
from pydantic import ValidationError

from broadcast_server.settings import load_settings

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "cap-1.2" / "cap12.xsd"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the shipped `timezone`
LIUJINGTUN, XINCUN = "/hongqi/liujingtun", "/hongqi/xincun"
SENDER = "hongqi.example.cn"


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    if not SCHEMA.is_file():
        problem = f"the OASIS CAP 1.2 schema is not at {SCHEMA}"
        if os.environ.get("VB_TEST_REQUIRE_SCHEMAS") == "1":  # CI: a missing schema is a failure, never a skip
            pytest.fail(problem)
        pytest.skip(problem)
    return xmlschema.XMLSchema(SCHEMA)


async def _get(village, path: str, token: str | None = None) -> tuple[int, str, bytes]:
    """GET `path` (or a whole URL the server gave) with a token, or with none at all."""
    headers = village.auth(token) if token else {}
    async with village.http.get(path if "://" in path else village.url + path, headers=headers) as resp:
        return resp.status, resp.content_type, await resp.read()


async def _alert(village, announcement_id: str, cap_schema, token: str | None = None) -> tuple[bytes, ET.Element]:
    """The API's alert of the announcement, read with `token` (else the admin's), valid CAP."""
    status, content_type, body = await _get(village, f"/api/v1/announcements/{announcement_id}.cap", token or village.admin)
    assert (status, content_type) == (200, "application/cap+xml"), body
    cap_schema.validate(body)
    return body, ET.fromstring(body)


def _cap_time(value: str) -> str:
    """An API time as CAP gives it: Beijing time with its offset, whole seconds."""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).replace(microsecond=0).isoformat()


async def _feed(village, cap_schema) -> dict[str, ET.Element]:
    """The public feed, read as an Atom reader would (no token), its entries by id; each inline alert is valid CAP."""
    status, content_type, body = await _get(village, "/cap/alerts.atom")
    assert (status, content_type) == (200, "application/atom+xml"), body
    feed = ET.fromstring(body)
    assert feed.tag == ATOM + "feed" and feed.findtext(ATOM + "id").startswith("urn:uuid:")
    assert feed.findtext(ATOM + "title") and feed.findtext(f"{ATOM}author/{ATOM}name")
    updated = datetime.fromisoformat(feed.findtext(ATOM + "updated"))  # RFC 3339
    [self_link] = [link for link in feed.findall(ATOM + "link") if link.get("rel") == "self"]
    assert self_link.get("href") == village.url + "/cap/alerts.atom"
    entries = {}
    for entry in feed.findall(ATOM + "entry"):
        [alert] = entry.find(ATOM + "content")
        cap_schema.validate(alert)
        assert entry.find(ATOM + "content").get("type") == "application/cap+xml" and entry.findtext(ATOM + "title")
        assert entry.findtext(ATOM + "updated") == alert.findtext(CAP + "sent")
        [link] = [link for link in entry.findall(ATOM + "link") if link.get("rel") == "alternate"]
        assert link.get("type") == "application/cap+xml"
        entries[entry.findtext(ATOM + "id")] = entry
    assert len(entries) == len(feed.findall(ATOM + "entry")) and all(entry_id.startswith("urn:uuid:") for entry_id in entries)
    if entries:  # the feed changed when its newest entry did: what a polling reader compares
        assert updated == max(datetime.fromisoformat(entry.findtext(ATOM + "updated")) for entry in entries.values())
    return entries


def _urn(announcement_id: str) -> str:
    """The feed's id of an announcement's entry."""
    return uuid.UUID(hex=announcement_id).urn


async def _public_entry(village, cap_schema, announcement_id: str, api_body: bytes) -> ET.Element:
    """The feed's entry for the announcement: its inline alert and its link (fetched without a token) are the API's."""
    entry = (await _feed(village, cap_schema))[_urn(announcement_id)]
    [alert] = entry.find(ATOM + "content")
    assert ET.tostring(alert) == ET.tostring(ET.fromstring(api_body))
    [link] = [link for link in entry.findall(ATOM + "link") if link.get("rel") == "alternate"]
    assert link.get("href").startswith(village.url + "/cap/alerts/")
    assert await _get(village, link.get("href")) == (200, "application/cap+xml", api_body)
    return entry


@pytest.mark.settings(cap_export_sender=SENDER, cap_export_sender_name="红旗镇人民政府", cap_export_priorities=["emergency", "high"])
async def test_an_emergency_goes_out_as_alert_update_and_cancel(village, cap_schema):
    """A 暴雨红色预警 for two villages is an Alert naming both, with the configured sender and Beijing times; the
    revision that extends it is an Update, the cancellation a Cancel, each referencing the first Alert; at every
    stage the public feed carries it and its link serves the same alert without a token. A notice of a priority the
    deployment also publishes (high) is there too, graded lower."""
    await village.call("POST", "/areas", json={"path": LIUJINGTUN, "name": "刘井屯"}, expect=201)
    await village.call("POST", "/areas", json={"path": XINCUN, "name": "新村"}, expect=201)
    await village.call("PATCH", "/areas/" + quote(XINCUN, safe=""), json={"geocodes": ["330108001002"]}, expect=200)
    committee = await village.token("committee", "/hongqi")
    posted = await village.post(
        committee, title="暴雨红色预警", body="预计未来3小时降雨量将达100毫米以上，请转移到安全地带。", priority="emergency",
        category="防汛", target={"areas": [LIUJINGTUN, XINCUN]},
    )

    body, alert = await _alert(village, posted["id"], cap_schema, committee)
    first_identifier, first_sent = alert.findtext(CAP + "identifier"), alert.findtext(CAP + "sent")
    assert (alert.findtext(CAP + "sender"), alert.findtext(CAP + "status"), alert.findtext(CAP + "msgType")) == (SENDER, "Actual", "Alert")
    assert alert.findtext(CAP + "scope") == "Public" and alert.find(CAP + "references") is None
    assert first_sent == _cap_time(posted["published_at"]) and first_sent.endswith("+08:00")
    [info] = alert.findall(CAP + "info")
    assert [info.findtext(CAP + f) for f in ("language", "category", "event", "urgency", "severity", "headline", "description")] == [
        "zh-CN", "Met", "防汛", "Immediate", "Severe", "暴雨红色预警", posted["body"]]
    assert info.findtext(CAP + "senderName") == "红旗镇人民政府"
    assert info.findtext(CAP + "expires") == _cap_time(posted["expires_at"])
    assert info.findtext(f"{CAP}area/{CAP}areaDesc") == "刘井屯、新村"
    geocodes = [(g.findtext(CAP + "valueName"), g.findtext(CAP + "value")) for g in info.iterfind(f"{CAP}area/{CAP}geocode")]
    assert geocodes == [("GB/T 2260", "330108001002")]  # Xincun's division code; Liujingtun has none
    entry = await _public_entry(village, cap_schema, posted["id"], body)
    assert entry.findtext(ATOM + "title") == "暴雨红色预警" and entry.findtext(ATOM + "published") == first_sent

    later = (datetime.fromisoformat(posted["expires_at"]) + timedelta(hours=6)).isoformat()
    await village.call("PATCH", f"/announcements/{posted['id']}", token=committee, json={"expires_at": later}, expect=200)
    body, update = await _alert(village, posted["id"], cap_schema, committee)
    assert update.findtext(CAP + "msgType") == "Update" and update.findtext(CAP + "identifier") != first_identifier
    assert update.findtext(CAP + "references") == f"{SENDER},{first_identifier},{first_sent}"
    assert update.findtext(f"{CAP}info/{CAP}expires") == _cap_time(later)
    assert datetime.fromisoformat(update.findtext(CAP + "sent")) >= datetime.fromisoformat(first_sent)
    await _public_entry(village, cap_schema, posted["id"], body)

    await village.call("POST", f"/announcements/{posted['id']}/cancel", token=committee, expect=200)
    body, cancel = await _alert(village, posted["id"], cap_schema, committee)
    assert cancel.findtext(CAP + "msgType") == "Cancel"
    assert cancel.findtext(CAP + "identifier") not in (first_identifier, update.findtext(CAP + "identifier"))
    assert cancel.findtext(CAP + "references") == f"{SENDER},{first_identifier},{first_sent}"
    await _public_entry(village, cap_schema, posted["id"], body)  # a reader must learn of the Cancel

    high = await village.post(committee, title="停电通知", body="明天停电。", priority="high", category="停电")
    high_body, high_alert = await _alert(village, high["id"], cap_schema)
    assert [high_alert.findtext(f"{CAP}info/{CAP}{f}") for f in ("category", "urgency", "severity")] == ["Infra", "Expected", "Moderate"]
    await _public_entry(village, cap_schema, high["id"], high_body)


async def test_only_what_was_said_aloud_as_an_emergency_is_public(village, clock, cap_schema):
    """By default the feed lists emergencies only: a village notice is not in it and its public link is a 404,
    though staff in scope read it as CAP; another area's token gets a 404, no token a 401. A scheduled emergency
    is not public before it goes out, an ended one a day after; a drill goes out as an Exercise."""
    liujingtun = await village.token("committee", LIUJINGTUN)
    xincun = await village.token("committee", XINCUN)
    notice = await village.post(liujingtun, title="村民大会通知", body="明天上午九点开会。")
    soon_over = await village.post(
        liujingtun, title="山洪预警", body="请远离河道。", priority="emergency",
        expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    drill = await village.post(liujingtun, title="防汛演练", body="这是一次演练。", drill=True)
    scheduled = await village.post(
        liujingtun, title="台风预警", body="明天台风登陆。", priority="emergency",
        publish_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat(),
    )

    body, alert = await _alert(village, notice["id"], cap_schema, liujingtun)  # staff in scope read any as CAP
    graded = [alert.findtext(f"{CAP}info/{CAP}{f}") for f in ("category", "event", "urgency", "severity")]
    assert graded == ["Other", "通知", "Future", "Minor"]
    assert (await _get(village, f"/api/v1/announcements/{notice['id']}.cap", xincun))[0] == 404
    assert (await _get(village, f"/api/v1/announcements/{notice['id']}.cap"))[0] == 401

    entries = await _feed(village, cap_schema)
    assert len(entries) == 2  # the emergency and the drill; not the notice, not the emergency still to come
    for hidden in (notice, scheduled, {"id": "0" * 32}):
        status, content_type, _ = await _get(village, f"/cap/alerts/{hidden['id']}.cap")
        assert (status, content_type) == (404, "application/problem+json")
    drill_body, drill_alert = await _alert(village, drill["id"], cap_schema)
    assert drill_alert.findtext(CAP + "status") == "Exercise"
    await _public_entry(village, cap_schema, drill["id"], drill_body)

    clock.shift = timedelta(hours=1, minutes=30)  # ended half an hour ago: still listed
    await _public_entry(village, cap_schema, soon_over["id"], (await _alert(village, soon_over["id"], cap_schema))[0])
    clock.shift = timedelta(hours=26)  # ended more than a day ago; the drill (24 hours) two hours ago
    assert (await _get(village, f"/cap/alerts/{soon_over['id']}.cap"))[0] == 404
    assert set(await _feed(village, cap_schema)) == {_urn(drill["id"])}


@pytest.mark.parametrize("sender", ["红旗 村", "a,b", "x<y", "a&b"])
def test_a_sender_cap_forbids_is_refused(sender):
    """CAP forbids spaces, commas, '<' and '&' in a sender: such a setting is refused, naming it, at start-up."""
    with pytest.raises(ValidationError, match="cap_export_sender(.|\n)*no spaces, commas"):
        load_settings(None, cap_export_sender=sender)
