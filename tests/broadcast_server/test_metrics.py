"""GET /metrics as county IT's Prometheus scrapes it: parsed with prometheus-client's own parser, moving with
the work the server does, closed to anyone but an admin of the whole deployment, and with labels that stay few."""

import json
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.screens import eventually
from tests.wsframes import connected, until

GATE = "/hongqi/liujingtun"
ROOT = Path(__file__).resolve().parents[2]


async def scrape(village) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics (read with the root admin's token), keyed by name and sorted labels, as Prometheus reads them."""
    async with village.http.get(village.url + "/metrics", headers=village.auth()) as resp:
        text = await resp.text()
        assert resp.status == 200, text
        assert resp.content_type == "text/plain", resp.content_type
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def route_labels(samples: dict) -> set[str]:
    return {dict(labels)["route"] for name, labels in samples if name == "village_http_requests_total"}


async def test_a_post_to_a_connected_screen_moves_hellos_events_fanout_and_http_counts(village):
    screen = await village.screen("gate", GATE)
    before = await scrape(village)
    assert value(before, "village_screens_connected") == 0

    ws = await connected(village, screen["token"])
    posted = await village.post(target={"areas": [GATE]})
    frames = await until(ws, "announcement")
    assert frames[-1]["announcement"]["id"] == posted["id"]
    after = await scrape(village)

    assert value(after, "village_screens_connected") == 1
    assert value(after, "village_screen_hellos_total") == value(before, "village_screen_hellos_total") + 1
    assert value(after, "village_events_pumped_total") > value(before, "village_events_pumped_total")
    assert value(after, "village_fanout_seconds_count") > value(before, "village_fanout_seconds_count")
    post_201 = {"method": "POST", "route": "/api/v1/announcements", "status": "201"}
    assert value(after, "village_http_requests_total", **post_201) == value(before, "village_http_requests_total", **post_201) + 1
    scrapes = {"method": "GET", "route": "/metrics", "status": "200"}
    assert value(after, "village_http_requests_total", **scrapes) >= 1
    assert value(after, "village_screen_slow_disconnects_total") == 0
    await ws.close()


async def test_metrics_need_an_admin_token_of_the_whole_deployment(village):
    screen = await village.screen("gate", GATE)
    township_admin = await village.token("admin", "/hongqi")
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        (village.auth(screen["token"]), 403),
        (village.auth(township_admin), 403),
    ]:
        async with village.http.get(village.url + "/metrics", headers=headers) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == status, (headers, resp.status, body)
            assert "village_" not in await resp.text()
    assert value(await scrape(village), "village_http_requests_total", method="GET", route="/metrics", status="401") == 2


async def test_fifty_ids_and_fifty_unknown_paths_make_one_label_value_each(village):
    for _ in range(50):
        await village.call("GET", f"/announcements/{uuid.uuid4()}", expect=404)
        async with village.http.get(f"{village.url}/wp-admin/{uuid.uuid4()}.php") as resp:
            assert resp.status == 404
    samples = await scrape(village)
    assert value(samples, "village_http_requests_total", method="GET", route="/api/v1/announcements/{id}", status="404") == 50
    assert value(samples, "village_http_requests_total", method="GET", route="(no route)", status="404") == 50
    assert not any("-" in route for route in route_labels(samples)), route_labels(samples)  # no uuid made it into a label


async def test_open_and_overdue_requests_come_from_the_database_at_most_every_ten_seconds(village, clock):
    screen = await village.screen("gate", GATE)
    first = await scrape(village)
    assert (value(first, "village_requests_open"), value(first, "village_requests_overdue")) == (0, 0)
    reply = {"client_msg_id": uuid.uuid4().hex, "category": "suggestion", "text": "村口的路灯坏了，晚上很黑。"}
    await village.call("POST", "/replies", token=screen["token"], json=reply, expect=201)

    cached = await scrape(village)  # the same second: the figures read a moment ago stand
    assert value(cached, "village_requests_open") == 0

    clock.shift += timedelta(days=8)  # a suggestion's first response is due within 7 days
    later = await scrape(village)
    assert (value(later, "village_requests_open"), value(later, "village_requests_overdue")) == (1, 1)
    assert value(later, "village_speech_waiting") == 0  # speech is off in these tests: nothing waits for it


@pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)  # the clip is timed alike on either database
class TestWithSpeech:
    @pytest.fixture
    def speech_enabled(self) -> bool:
        return True

    async def test_a_spoken_post_is_timed_and_waits_no_more(self, village):
        posted = await village.post(title="停水通知", body="明天上午停水。")

        async def has_audio() -> bool:
            _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
            return detail["audio"] is not None

        await eventually(has_audio, timeout=60)
        samples = await scrape(village)
        assert value(samples, "village_speech_synthesis_seconds_count") == 1
        assert 0 < value(samples, "village_speech_synthesis_seconds_sum") < 60
        assert value(samples, "village_speech_waiting") == 0


def lags_over_50_ms(samples: dict) -> float:
    return value(samples, "village_event_loop_lag_seconds_count") - value(samples, "village_event_loop_lag_seconds_bucket", le="0.05")


async def test_a_stalled_event_loop_shows_as_lag(village):
    """The server shares the test's event loop: holding it 200 ms (twice the probe's period) delays a probe by over 50 ms."""
    before = lags_over_50_ms(await scrape(village))
    time.sleep(0.2)

    async def stall_seen() -> bool:
        return lags_over_50_ms(await scrape(village)) > before

    await eventually(stall_seen, timeout=5)


async def test_a_loudspeaker_counts_as_a_listener_while_it_listens(village):
    await village.call("POST", "/areas", json={"path": "/dongfeng", "name": "东风村"}, expect=201)

    async def listeners() -> float:
        return value(await scrape(village), "village_stream_listeners")

    async with village.http.get(village.url + "/stream/dongfeng.mp3") as resp:
        assert resp.status == 200
        await resp.content.readexactly(1)
        assert await listeners() == 1

    async def gone() -> bool:  # the station notices at its next write
        return await listeners() == 0

    await eventually(gone, timeout=5)


@pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)  # the names served do not depend on it
async def test_the_dashboard_and_the_docs_show_every_metric_served_and_no_other(village):
    async with village.http.get(village.url + "/metrics", headers=village.auth()) as resp:
        served = {family.name for family in text_string_to_metric_families(await resp.text())}
    dashboard = json.loads((ROOT / "deploy/grafana/village-broadcast.json").read_text())
    assert dashboard["templating"]["list"][0]["type"] == "datasource"  # the importer picks the Prometheus data source
    queried = {
        re.sub(r"_(bucket|sum|count|total)$", "", name)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"village_\w+", target["expr"])
    }
    assert queried == served
    documented = set(re.findall(r"`(village_\w+?)(?:_total)?[`{]", (ROOT / "docs/operations.md").read_text()))
    assert documented == served
