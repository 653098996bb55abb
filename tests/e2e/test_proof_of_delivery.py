"""Proof of delivery (回传) end to end: a real server with speech, real screen clients playing with the null player
(which sends `played` receipts as a loudspeaker does); the report, its CSV, and the overdue list."""

import asyncio
import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast_server.keys import RECORDER
from screen_client.player import NullPlayer
from tests.e2e.screens import eventually, running

VILLAGE, GRID, OTHER = "/hongqi/liujingtun", "/hongqi/liujingtun/grid-3", "/hongqi/xincun"


@pytest.fixture
def speech_enabled() -> bool:
    return True  # a device plays an announcement's audio, so only one with audio is ever played


async def report(village, announcement_id: str, token: str | None = None, **params) -> dict:
    await village.app[RECORDER].flush()  # receipts are written in batches
    _, body = await village.call("GET", f"/announcements/{announcement_id}/deliveries", token=token, params=params, expect=200)
    return body


async def played_by(village, announcement_id: str, count: int, token: str | None = None) -> dict | None:
    body = await report(village, announcement_id, token)
    return body if body["summary"]["played"] >= count else None


async def overdue(village, token: str | None = None) -> dict:
    await village.app[RECORDER].flush()
    _, body = await village.call("GET", "/deliveries/overdue", token=token, expect=200)
    return body


async def csv_rows(village, url: str, token: str, headers: dict | None = None) -> list[dict]:
    async with village.http.get(village.url + "/api/v1" + url, headers={**village.auth(token), **(headers or {})}) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv", (resp.status, await resp.text())
        raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese right
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.mark.settings(emergency_play_deadline_s=1)
async def test_report_shows_each_device_and_the_offline_one_is_overdue_until_it_plays(village, tmp_path):
    """An emergency to three devices, one kept offline: the two online ones received and played it (the screen also
    showed it), the offline one is not reached; after the deadline it is overdue with its area's name and when it was
    last seen, for its own village's committee only; once it comes online and plays it, it leaves the list. The CSV
    holds the same rows, and another village's committee sees neither."""
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    await village.call("POST", "/areas", json={"path": GRID, "name": "三组"}, expect=201)
    committee, stranger = await village.token("committee", VILLAGE), await village.token("committee", OTHER)
    gate = await village.screen("村口屏", VILLAGE)
    horn = await village.screen("三组喇叭", GRID, kind="speaker")
    far = await village.screen("河边喇叭", GRID, kind="speaker")
    async with running(village.url, far["token"], tmp_path / "far", display=None) as client:
        await client.wait_for(lambda: client.synced)  # seen once; offline from here on
    await village.app[RECORDER].flush()  # its last_seen is written before the emergency goes out
    async with (
        running(village.url, gate["token"], tmp_path / "gate") as c_gate,
        running(village.url, horn["token"], tmp_path / "horn", display=None) as c_horn,
    ):
        for c in (c_gate, c_horn):
            await c.wait_for(lambda c=c: c.synced)
        posted = await village.post(committee, title="山洪预警", body="河水上涨，请沿河住户立即转移到高处。", priority="emergency")
        body = await eventually(lambda: played_by(village, posted["id"], 2, committee), 60)

        devices = {d["screen_id"]: d for d in body["devices"]}
        assert [d["screen_id"] for d in body["devices"]][0] == far["id"]  # not played first
        published = at(body["published_at"])
        assert devices[far["id"]] | {"last_seen": None} == {
            "screen_id": far["id"], "name": "河边喇叭", "kind": "speaker", "area": GRID, "area_name": "三组", "online": False,
            "last_seen": None, "received_at": None, "displayed_at": None, "played_at": None,
        }
        assert at(devices[far["id"]]["last_seen"]) < published
        screen, speaker = devices[gate["id"]], devices[horn["id"]]
        assert screen["kind"] == "screen" and screen["area_name"] == "刘井屯村" and screen["online"] and speaker["online"]
        assert published <= at(screen["received_at"]) <= at(screen["played_at"]) and screen["displayed_at"]
        assert speaker["received_at"] and speaker["played_at"] and speaker["displayed_at"] is None  # a loudspeaker shows nothing
        plays = sorted((at(d["played_at"]) - published).total_seconds() for d in (screen, speaker))
        summary = body["summary"]
        assert summary | {"played_50_s": None} == {
            "targeted": 3, "received": 2, "displayed": 1, "played": 2, "offline": 1,
            "played_50_s": None, "played_90_s": None, "played_all_s": None,
        }
        assert summary["played_50_s"] == pytest.approx(plays[1], abs=1e-3)  # 2 of 3 is the first half or more

        late = await eventually(lambda: _only(village, committee, far["id"]))
        row = late["devices"][0]
        assert row["announcement_id"] == posted["id"] and row["title"] == "山洪预警" and row["area_name"] == "三组"
        assert row["last_seen"] == devices[far["id"]]["last_seen"] and not row["online"] and row["kind"] == "speaker"
        assert at(row["due_at"]) == published + timedelta(seconds=1) and late["deadline_s"] == 1
        assert (await overdue(village, stranger))["total"] == 0  # not a device of theirs

        ordered = [d["screen_id"] for d in body["devices"]]
        for url, headers in (
            (f"/announcements/{posted['id']}/deliveries?format=csv", None),
            (f"/announcements/{posted['id']}/deliveries", {"Accept": "text/csv"}),
            (f"/announcements/{posted['id']}/deliveries.csv", None),
        ):
            rows = await csv_rows(village, url, committee, headers)
            assert [r["设备编号"] for r in rows] == ordered, url
            by_id = {r["设备编号"]: r for r in rows}
            assert by_id[far["id"]]["播放时间"] == "" and by_id[far["id"]]["是否在线"] == "否"
            assert by_id[far["id"]]["类型"] == "喇叭" and by_id[far["id"]]["区域名称"] == "三组"
            assert by_id[gate["id"]]["播放时间"] and by_id[gate["id"]]["类型"] == "屏幕" and by_id[horn["id"]]["显示时间"] == ""
        english = await csv_rows(village, f"/announcements/{posted['id']}/deliveries.csv?lang=en", committee)
        assert [r["screen_id"] for r in english] == ordered and english[0]["online"] == "no"
        for url in (f"/announcements/{posted['id']}/deliveries", f"/announcements/{posted['id']}/deliveries.csv"):
            assert (await village.call("GET", url, token=stranger))[0] == 404

        async with running(village.url, far["token"], tmp_path / "far", display=None):
            body = await eventually(lambda: played_by(village, posted["id"], 3, committee), 60)
            assert (await overdue(village, committee))["total"] == 0
    summary = body["summary"]
    assert summary["played_all_s"] >= summary["played_90_s"] >= summary["played_50_s"] > 0
    assert summary["played_all_s"] == pytest.approx(max((at(d["played_at"]) - published).total_seconds() for d in body["devices"]))


async def _only(village, token: str, screen_id: str) -> dict | None:
    """The overdue list once it holds exactly this device (the online ones may be listed until their receipt is in)."""
    body = await overdue(village, token)
    return body if [d["screen_id"] for d in body["devices"]] == [screen_id] and body["total"] == 1 else None


def _quiet_now() -> str:
    """Quiet hours around the time the tests run, in the server's time zone (Asia/Shanghai by default)."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    return f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=2):%H:%M}"


@pytest.mark.settings(quiet_hours={"/": _quiet_now()})
async def test_an_emergency_plays_in_quiet_hours_and_its_receipt_counts(village, tmp_path):
    """During quiet hours a loudspeaker holds a normal notice and plays an emergency; its `played` receipt reaches the
    report, so quiet hours never make an emergency look unheard."""
    horn = await village.screen("horn", VILLAGE, kind="speaker")
    player = NullPlayer()
    async with running(village.url, horn["token"], tmp_path / "horn", display=None, player=player) as client:
        await client.wait_for(lambda: client.synced)
        normal = await village.post(title="通知", body="明天上午开会。")
        emergency = await village.post(title="紧急", body="山洪预警，请立即转移。", priority="emergency")
        body = await eventually(lambda: played_by(village, emergency["id"], 1), 60)
        await client.wait_for(lambda: len(client.announcements()) == 2 and all(a.audio for a in client.announcements()), timeout=60)
        await asyncio.sleep(0.3)  # time enough for the player to take the normal notice, were it not held
    assert body["devices"][0]["played_at"] and body["summary"]["played_all_s"] is not None
    assert [r.announcement_id for r in player.records] == [emergency["id"]]
    assert (await report(village, normal["id"]))["summary"]["played"] == 0
