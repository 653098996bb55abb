"""Watched CAP sources, end to end: the real server, real screens, a county folder and a county feed on loopback.

A 暴雨红色预警 dropped into the county's folder reaches the screens of its two villages and is filed in done/; a
repeat changes nothing; an invalid alert is filed in refused/ with the reason naming the element. The county's
Atom feed brings the warning, then its Update and its Cancel, each fetched once, an unchanged feed costing a 304.
A source that requires signatures takes an alert signed with the county's certificate and refuses a tampered,
an unsigned and a foreign-signed one, broadcasting none of them; POST /cap does the same when told to.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner
from yarl import URL

from broadcast_server.cap_sources import CapSource, DirectoryPoller, SourceError, feed_entries
from broadcast_server.settings import SettingsError, load_settings_for_command
from screen_client.client import ScreenClient
from tests.cap.alerts import LIUJINGTUN, XINCUN, configure_villages, fixture, post_cap, retimed, story_now
from tests.e2e.screens import eventually, ids, running

HEADLINE = "滨江县气象台发布暴雨红色预警信号"
HEADLINE_UPDATED = "滨江县气象台继续发布暴雨红色预警信号"
FEED_USER, FEED_PASSWORD = "binjiang", "s3cret-feed-pw"
FAST = 0.1  # seconds between polls in these tests


class Signer:
    """A signing key and its self-signed certificate (written as PEM), as a county's warning publisher holds them."""

    def __init__(self, folder: Path, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(self.key, hashes.SHA256())
        )
        self.pem = folder / f"{name}.pem"
        self.pem.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def sign(self, data: bytes) -> bytes:
        """`data` with an enveloped XMLDSig signature, its certificate carried in it, as CAP signs an alert."""
        signed = XMLSigner(signature_algorithm="ecdsa-sha256", c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
            etree.fromstring(data), key=self.key, cert=self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        )
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


class CountyFeed:
    """The county's Atom feed of CAP alerts, behind HTTP Basic, answering conditional requests; it counts each request."""

    def __init__(self):
        self.entries: list[tuple[str, datetime]] = []  # newest first, as feeds are written
        self.alerts: dict[str, bytes] = {}
        self.version = 0
        self.modified = datetime(2026, 7, 18, 6, 0, tzinfo=UTC)
        self.failing = False
        self.not_modified = asyncio.Event()
        self.conditional_headers: list[tuple[str | None, str | None]] = []
        self.alert_fetches: Counter[str] = Counter()
        self.app = web.Application()
        self.app.router.add_get("/warnings.atom", self._feed)
        self.app.router.add_get("/alerts/{name}.xml", self._alert)

    def publish(self, name: str, data: bytes) -> None:
        self.version += 1
        self.modified += timedelta(minutes=1)
        self.alerts[name] = data
        self.entries.insert(0, (name, self.modified))

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{FEED_USER}:{FEED_PASSWORD}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _feed(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        if self.failing:
            return web.Response(status=503, text="maintenance")
        asked = (request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"))
        if any(asked):
            self.conditional_headers.append(asked)
        if asked[0] == self.etag:
            self.not_modified.set()
            return web.Response(status=304)
        entries = "".join(
            f'<entry><id>urn:test:{name}</id><title>{name}</title><updated>{when.isoformat()}</updated>'
            f'<link rel="alternate" type="application/cap+xml" href="/alerts/{name}.xml"/></entry>'
            for name, when in self.entries
        )
        body = (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:test:county</id>'
                f'<title>滨江县预警</title><updated>{self.modified.isoformat()}</updated>{entries}</feed>')
        headers = {"ETag": self.etag, "Last-Modified": format_datetime(self.modified, usegmt=True)}
        return web.Response(text=body, content_type="application/atom+xml", headers=headers)

    async def _alert(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.alert_fetches[name] += 1
        return web.Response(body=self.alerts[name], content_type="application/cap+xml")


@pytest.fixture
async def feed() -> CountyFeed:
    county = CountyFeed()
    server = TestServer(county.app, host="127.0.0.1")
    await server.start_server()
    county.url = str(server.make_url("/warnings.atom")).replace("http://", f"http://{FEED_USER}:{FEED_PASSWORD}@")
    yield county
    await server.close()


@pytest.fixture
def signer(tmp_path) -> Signer:
    return Signer(tmp_path, "binjiang-weather")


@pytest.fixture
def setting_overrides(request, tmp_path, signer, feed) -> dict:
    """The test's settings, with the sources it names in `@pytest.mark.settings(cap_sources=[...])` polled every FAST s."""
    sources = {
        "drop": {"name": "县应急局", "kind": "directory", "path": str(tmp_path / "drop"), "area": "/hongqi"},
        "signed": {"name": "signed", "kind": "directory", "path": str(tmp_path / "signed"), "require_signature": True,
                   "certificates": [str(signer.pem)]},
        "feed": {"name": "县气象台", "kind": "feed", "url": feed.url},
    }
    given = dict(request.node.get_closest_marker("settings").kwargs)
    kinds = given.pop("cap_sources")
    chosen = [{**sources[kind], "interval_s": FAST} for kind in kinds]
    for source in chosen:
        if "path" in source:
            Path(source["path"]).mkdir()
    # where signatures are required of a source, POST /cap requires them too
    posting = {"cap_post_require_signature": True, "cap_post_certificates": [str(signer.pem)]} if "signed" in kinds else {}
    return {**given, "cap_sources": chosen, **posting}


async def announcements(village) -> list[dict]:
    _, page = await village.call("GET", "/announcements?limit=200", expect=200)
    return page["items"]


async def cap_alerts(village) -> list[dict]:
    _, page = await village.call("GET", "/cap/alerts", expect=200)
    return page["items"]


async def sources(village) -> dict[str, dict]:
    _, listed = await village.call("GET", "/cap/sources", expect=200)
    return {s["name"]: s for s in listed}


@contextlib.asynccontextmanager
async def village_screens(village, tmp_path: Path) -> AsyncIterator[tuple[ScreenClient, ScreenClient]]:
    """A screen in each of the two villages the alerts are for, running and synced."""
    made = {path: await village.screen(f"screen {path}", path) for path in (LIUJINGTUN, XINCUN)}
    async with (
        running(village.url, made[LIUJINGTUN]["token"], tmp_path / "liujingtun") as liujingtun,
        running(village.url, made[XINCUN]["token"], tmp_path / "xincun") as xincun,
    ):
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: c.synced)
        yield liujingtun, xincun


def drop(folder: Path, name: str, data: bytes) -> None:
    """As another system drops a file: written under a temporary name, then renamed into the folder."""
    (folder / f"{name}.part").write_bytes(data)
    (folder / f"{name}.part").rename(folder / name)


@pytest.mark.settings(cap_sources=["drop"])
async def test_a_warning_dropped_into_the_county_folder_reaches_the_screens_of_its_villages(village, tmp_path):
    """Filed in done/ once taken; a repeat is filed too and changes nothing; an invalid alert is filed in refused/ with
    the reason naming the element; a file still being written is left alone."""
    await configure_villages(village)
    folder = tmp_path / "drop"
    start = story_now()
    async with village_screens(village, tmp_path) as (liujingtun, xincun):
        (folder / "still-writing.xml.part").write_bytes(b"<alert")
        warning = retimed(fixture("rainstorm-red.xml"), start)
        drop(folder, "rainstorm-red.xml", warning)
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: [(a.title, a.priority) for a in c.announcements()] == [(HEADLINE, "emergency")])
        await eventually(lambda: (folder / "done" / "rainstorm-red.xml").exists())

        drop(folder, "rainstorm-red-again.xml", warning)
        drop(folder, "gale.xml", retimed(fixture("gale-missing-urgency.xml"), start))
        await eventually(lambda: (folder / "done" / "rainstorm-red-again.xml").exists() and (folder / "refused" / "gale.xml").exists())
        [warning_id] = ids(liujingtun)

    reason = (folder / "refused" / "gale.xml.reason.txt").read_text()
    assert reason.startswith("cap_schema_invalid: alert/info: ") and "Tag 'cap:urgency' expected" in reason, reason
    assert sorted(p.name for p in folder.iterdir()) == ["done", "processing", "refused", "still-writing.xml.part"]
    assert [(a["id"], a["area"]) for a in await announcements(village)] == [(warning_id, "/hongqi")]
    [kept] = await cap_alerts(village)  # the repeat and the refusal kept nothing
    assert (kept["outcome"], kept["area"], kept["received_by"]) == ("created", "/hongqi", "cap:县应急局")
    status = (await sources(village))["县应急局"]
    assert (status["kind"], status["location"], status["area"], status["failures"], status["last_error"]) == (
        "directory", str(folder), "/hongqi", 0, None,
    )
    assert status["last_poll_at"] is not None and status["last_outcome"] is not None
    village_admin = await village.token("admin", LIUJINGTUN)  # the source posts for the township: not the village's to see
    assert (await village.call("GET", "/cap/sources", token=village_admin, expect=200))[1] == []


@pytest.mark.settings(cap_sources=["feed"])
async def test_a_county_feed_brings_a_warning_then_its_update_and_its_cancel(village, feed, tmp_path, caplog):
    """Each alert is fetched once; an unchanged feed is asked for with its ETag and Last-Modified and answers 304; the
    feed's password is in no status and no log line, while it is down and after."""
    await configure_villages(village)
    feed.failing = True
    down = await eventually(lambda: _failing(village))
    assert "HTTP 503" in down["last_error"] and FEED_PASSWORD not in str(down) and FEED_USER not in down["location"], down
    feed.failing = False

    start = story_now()
    async with village_screens(village, tmp_path) as (liujingtun, xincun):
        feed.publish("rainstorm-red", retimed(fixture("rainstorm-red.xml"), start))
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: [a.title for a in c.announcements()] == [HEADLINE])
        feed.not_modified.clear()
        await asyncio.wait_for(feed.not_modified.wait(), 10)
        assert feed.alert_fetches == {"rainstorm-red": 1}
        assert feed.conditional_headers[-1] == (feed.etag, format_datetime(feed.modified, usegmt=True))

        feed.publish("rainstorm-red-update", retimed(fixture("rainstorm-red-update.xml"), start))
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: [(a.title, a.revision) for a in c.announcements()] == [(HEADLINE_UPDATED, 2)])
        feed.publish("rainstorm-red-cancel", retimed(fixture("rainstorm-red-cancel.xml"), start))
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: c.announcements() == [])
        feed.not_modified.clear()
        await asyncio.wait_for(feed.not_modified.wait(), 10)

    assert feed.alert_fetches == {"rainstorm-red": 1, "rainstorm-red-update": 1, "rainstorm-red-cancel": 1}
    assert [(a["msg_type"], a["outcome"]) for a in await cap_alerts(village)] == [
        ("Cancel", "cancelled"), ("Update", "updated"), ("Alert", "created"),
    ]
    status = (await sources(village))["县气象台"]
    assert (status["failures"], status["last_error_at"] is not None, status["last_outcome"]) == (
        0, True, {"taken": 0, "refused": 0, "repeated": 0},  # the last poll: a 304
    )
    assert status["since_start"] == {"taken": 3, "refused": 0, "repeated": 0}  # each alert once, over all the polls
    assert FEED_PASSWORD not in caplog.text and "HTTP 503" in caplog.text


async def _failing(village) -> dict | None:
    status = (await sources(village))["县气象台"]
    return status if status["failures"] else None


@pytest.mark.settings(cap_sources=["signed"])
async def test_only_alerts_signed_with_the_county_certificate_are_taken(village, signer, tmp_path):
    """From a source that requires a signature: a tampered, an unsigned and a foreign-signed alert are refused, saying
    why, and nothing is broadcast; the signed one reaches the screen. POST /cap, told to, refuses the same way."""
    await configure_villages(village)
    folder = tmp_path / "signed"
    warning = retimed(fixture("rainstorm-red.xml"), story_now())
    signed = signer.sign(warning)
    tampered = signed.replace(HEADLINE.encode(), "滨江县气象台解除暴雨红色预警信号".encode())
    foreign = Signer(tmp_path, "someone-else").sign(warning)
    gate = await village.screen("村口大屏", LIUJINGTUN)
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        for name, data in (("tampered.xml", tampered), ("unsigned.xml", warning), ("foreign.xml", foreign)):
            drop(folder, name, data)
        await eventually(lambda: len(list((folder / "refused").glob("*.xml"))) == 3)
        reasons = {p.name: p.read_text() for p in (folder / "refused").glob("*.reason.txt")}
        assert reasons["tampered.xml.reason.txt"].startswith(
            "signature_invalid: alert/Signature: the signature does not verify: the alert was changed after it was signed"
        )
        assert reasons["unsigned.xml.reason.txt"].startswith("signature_missing: alert/Signature: the alert is not signed")
        assert "not signed with the key of a certificate configured here" in reasons["foreign.xml.reason.txt"]
        assert await announcements(village) == [] and await cap_alerts(village) == []
        counted = (await sources(village))["signed"]["since_start"]  # the last poll may have found nothing since
        assert (counted["refused"], counted["taken"]) == (3, 0), counted

        for data, code in ((warning, "signature_missing"), (tampered, "signature_invalid"), (foreign, "signature_invalid")):
            status, problem = await post_cap(village, data)
            assert (status, problem["errors"][0]["type"]) == (422, code), problem
        assert await announcements(village) == []

        drop(folder, "signed.xml", signed)
        await client.wait_for(lambda: [a.title for a in client.announcements()] == [HEADLINE])
    await eventually(lambda: (folder / "done" / "signed.xml").exists())
    status, again = await post_cap(village, signed)
    assert status == 200 and again["duplicate"], again
    [kept] = await cap_alerts(village)
    assert (kept["outcome"], kept["received_by"]) == ("created", "cap:signed")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ({"name": "a", "kind": "directory"}, "setting cap_sources[0] (the --cap-sources flag): Value error, CAP source 'a': a directory"),
        ({"name": "a", "kind": "feed", "url": "ftp://x.example/f"}, "must be http:// or https://"),
        ({"name": "a", "kind": "folder", "path": "/tmp"}, "setting cap_sources[0].kind"),
        ({"name": "a", "kind": "directory", "path": "/tmp", "require_signature": True}, "require_signature needs `certificates`"),
        ({"name": "a", "kind": "directory", "path": "/tmp", "certificates": ["/nonexistent.pem"]}, "cannot read the certificate file"),
        ({"name": "a", "kind": "directory", "path": "/tmp", "area": "/Hongqi"}, "setting cap_sources[0].area"),
    ],
)
def test_a_bad_source_names_itself(source, words):
    with pytest.raises(SettingsError) as refused:
        load_settings_for_command(None, cap_sources=[source])
    assert words in str(refused.value)


def test_sources_come_from_the_toml_file_as_an_array_of_tables(tmp_path):
    not_pem = tmp_path / "county.pem"
    not_pem.write_text("not a certificate")
    config = tmp_path / "county.toml"
    config.write_text(
        f'[[cap_sources]]\nname = "县应急局"\nkind = "directory"\npath = "{tmp_path}"\n\n'
        '[[cap_sources]]\nname = "县气象台"\nkind = "feed"\nurl = "https://user:pw@cap.example.cn/feed.atom"\n'
    )
    settings = load_settings_for_command(config)
    assert [(s.name, s.interval, s.location) for s in settings.cap_sources] == [
        ("县应急局", 5.0, str(tmp_path)), ("县气象台", 60.0, "https://cap.example.cn/feed.atom"),
    ]
    config.write_text(config.read_text() + '\n[[cap_sources]]\nname = "县气象台"\nkind = "directory"\npath = "/tmp"\n')
    with pytest.raises(SettingsError, match="two CAP sources are named '县气象台'"):
        load_settings_for_command(config)
    with pytest.raises(SettingsError, match=f"setting cap_post_certificates .*{not_pem} holds no PEM certificate"):
        load_settings_for_command(None, cap_post_require_signature=True, cap_post_certificates=[not_pem])


def test_feed_entries_find_each_alert_in_atom_and_rss_oldest_first():
    """A link typed CAP/XML beats inline content, which beats the entry's own link; relative links are resolved;
    entries without a CAP alert or with a non-HTTP link are skipped; an Update listed first is taken after its Alert."""
    alert = fixture("rainstorm-red.xml").split(b"?>", 1)[1].split(b"-->", 1)[1]  # the <alert> element alone
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom">'
            b'<entry><updated>2026-07-18T17:05:00+08:00</updated><link href="/html/update"/>'
            b'<link rel="enclosure" type="application/cap+xml; charset=utf-8" href="alerts/update.xml"/></entry>'
            b'<entry><updated>2026-07-18T14:05:00+08:00</updated><content type="application/cap+xml">' + alert + b'</content></entry>'
            b'<entry><updated>2026-07-18T15:00:00+08:00</updated><link href="ftp://elsewhere/x.xml"/></entry>'
            b'<entry><updated>2026-07-18T16:00:00+08:00</updated><link rel="related" href="/about"/></entry></feed>')
    found = feed_entries(atom, base=URL("https://cap.example.cn/county/feed.atom"))
    assert [(str(e.url) if e.url else None, e.data and etree.fromstring(e.data).findtext("{*}identifier")) for e in found] == [
        (None, "33010841600000_20260718140500"), ("https://cap.example.cn/county/alerts/update.xml", None),
    ]
    rss = (b'<rss version="2.0"><channel>'
           b'<item><link>https://cap.example.cn/a/2.xml</link></item>'
           b'<item><enclosure url="https://cap.example.cn/a/1.xml" type="text/xml" length="1"/><link>https://x/1.html</link></item>'
           b'</channel></rss>')
    assert [str(e.url) for e in feed_entries(rss, base=URL("https://cap.example.cn/rss"))] == [
        "https://cap.example.cn/a/1.xml", "https://cap.example.cn/a/2.xml",
    ]
    with pytest.raises(SourceError, match="not an Atom or RSS feed: its root element is html"):
        feed_entries(b"<html><body>moved</body></html>", base=URL("https://cap.example.cn/rss"))


def test_a_file_still_being_written_waits_and_a_whole_alert_is_taken_at_once(tmp_path):
    """A file changed a moment ago is taken at once when it is a whole XML document (renamed in complete, as systems
    should: a warning loses no second), and waits for the quiet second while it is not (its root is not closed yet)."""
    folder = tmp_path / "county"
    folder.mkdir()
    poller = DirectoryPoller(CapSource(name="county", kind="directory", path=folder), max_bytes=100_000)
    whole = fixture("rainstorm-red.xml")
    (folder / "writing.xml").write_bytes(whole[: len(whole) // 2])
    (folder / "complete.xml").write_bytes(whole)
    assert poller._ready() == ["complete.xml"]
