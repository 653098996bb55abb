"""Prometheus metrics for county IT: GET /metrics, in the text format Prometheus scrapes.

Each app has a registry of its own (never prometheus-client's global one), so several apps in one
process (the tests) count apart. The parts of the server that do the work count into it in one line
each (the hub, the delivery recorder, the narrator, the streams); what is simply there is read when a
scrape comes: screens connected and live calls from memory, and the deployment-wide figures (open and
overdue requests, announcements waiting for speech) from the database, at most once every
`DATABASE_GAUGES_MAX_AGE_S`, so scrapes cost the database one short read however often they come.

/metrics wants an admin token of the whole deployment (area `/`), like every other admin request: it
is served on the one port each replica already has (a systemd instance is its port; nginx and the
health checks reach the same), and a token keeps it closed wherever that port can be reached.
Why, and what each figure means: docs/operations.md ("Metrics"); giving Prometheus the token: docs/deploy.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from sqlmodel import col, select

from announcements.database import Database
from announcements.models import OPEN_STATUSES as ANNOUNCEMENT_OPEN
from announcements.models import SPEECH_PENDING, Announcement, Role
from announcements.request_models import OPEN_STATUSES as REQUEST_OPEN
from announcements.request_models import ServiceRequest
from announcements.requests.queries import overdue_condition
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, HUB, LIVE_CALLS, METRICS
from broadcast_server.problems import Problem

# No `_created` sample beside each counter and histogram: a second series each, which dashboards never read.
disable_created_metrics()

T = TypeVar("T")

DATABASE_GAUGES_MAX_AGE_S = 10.0  # below Prometheus's usual 15 s scrape interval: each scrape sees fresh figures
LAG_PROBE_S = 0.1  # how often the event loop is asked to wake the probe; each late wake-up is one lag observation
NO_ROUTE = "(no route)"  # the route label of a request no route matched (a 404 from the router)
# A client may send any method name; only these are labels of their own, so the label set stays bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """One app's metrics, in a registry of its own. A part of the server made without one (a unit test) gets a
    throwaway `Metrics()`."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.hellos = Counter(
            "village_screen_hellos", "Screens welcomed (hello accepted); its rate is connections per second", registry=registry
        )
        self.slow_disconnects = Counter(
            "village_screen_slow_disconnects",
            "Screens disconnected with 1013 because their send buffer passed send_buffer_bytes (they resume by last_seq)",
            registry=registry,
        )
        self.events_pumped = Counter(
            "village_events_pumped", "Events read from the event table and handed to this replica's screens", registry=registry
        )
        self.fanout_seconds = Histogram(
            "village_fanout_seconds",
            "From reading an event to writing it to its last screen on this replica (observed after each slice of 20,000 screens)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.delivery_batch_rows = Histogram(
            "village_delivery_batch_rows",
            "Rows in one batched write of what screens report: kind=marks (acks and receipts), cursors (acked seq), presence",
            ["kind"],
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000),
            registry=registry,
        )
        self.loop_lag_seconds = Histogram(
            "village_event_loop_lag_seconds",
            f"How late the event loop woke a probe scheduled every {LAG_PROBE_S} s: what every socket waited meanwhile",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.synthesis_seconds = Histogram(
            "village_speech_synthesis_seconds",
            "Time to make one announcement's clip (speech, or a recording rendered), failures included",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
            registry=registry,
        )
        self.stream_listeners = Gauge(
            "village_stream_listeners", "Loudspeakers listening to a /stream/{area}.mp3 of this replica", registry=registry
        )
        self.http_requests = Counter(
            "village_http_requests",
            "HTTP requests answered, by method, route (its pattern, e.g. /api/v1/announcements/{id}) and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.database_gauges = DatabaseGauges()
        registry.register(self.database_gauges)

    def watch(self, app: web.Application) -> None:
        """Report what the app holds in memory (screens connected, live calls) at every scrape."""
        self.registry.register(_InMemory(app))

    def batch_written(self, **rows: int) -> None:
        """One batched write of the delivery recorder, with how many rows of each kind it held (a kind it had none of is
        not a batch of it)."""
        for kind, count in rows.items():
            if count:
                self.delivery_batch_rows.labels(kind).observe(count)




async def timed(histogram: Histogram, work: Awaitable[T]) -> T:
    """Await `work`, observing how long it took (also when it fails)."""
    with histogram.time():
        return await work


class _InMemory:
    """Scrape-time gauges of what this replica holds: read from the running parts, so they cannot drift."""

    def __init__(self, app: web.Application):
        self._app = app

    def collect(self) -> Iterator[Metric]:
        if HUB in self._app:
            yield GaugeMetricFamily("village_screens_connected", "Screens connected to this replica", len(self._app[HUB].connections))
        if LIVE_CALLS in self._app:
            yield GaugeMetricFamily("village_live_calls", "Live calls (实时喊话) carried by this replica", len(self._app[LIVE_CALLS].calls))


class DatabaseGauges:
    """The deployment's open and overdue requests and the announcements waiting for speech, read from the database
    at most once every `DATABASE_GAUGES_MAX_AGE_S` by the server's clock.

    Every replica reports the same figures (they are the whole deployment's): take max(), not sum(), across them.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._read_at: datetime | None = None
        self._open = self._overdue = self._speech_waiting = 0

    async def refresh(self, db: Database, now: datetime) -> None:
        async with self._lock:  # scrapes at the same moment share one read
            if self._read_at is not None and 0 <= (now - self._read_at).total_seconds() < DATABASE_GAUGES_MAX_AGE_S:
                return
            still_open = col(ServiceRequest.status).in_([s.value for s in REQUEST_OPEN])
            async with db.read() as session:
                self._open, self._overdue = (
                    await session.exec(
                        select(sa.func.count().filter(still_open), sa.func.count().filter(overdue_condition(now))).select_from(
                            ServiceRequest
                        )
                    )
                ).one()
                self._speech_waiting = (
                    await session.exec(
                        select(sa.func.count()).where(
                            Announcement.speech_status == SPEECH_PENDING, col(Announcement.status).in_(ANNOUNCEMENT_OPEN)
                        )
                    )
                ).one()
            self._read_at = now

    def collect(self) -> Iterator[Metric]:
        if self._read_at is None:
            return
        yield GaugeMetricFamily("village_requests_open", "Villagers' requests still open, in the whole deployment", self._open)
        yield GaugeMetricFamily(
            "village_requests_overdue", "Open requests past their response or resolution deadline, in the whole deployment", self._overdue
        )
        yield GaugeMetricFamily(
            "village_speech_waiting", "Announcements waiting for their clip (speech or recording), in the whole deployment",
            self._speech_waiting,
        )


@web.middleware
async def count_requests(request: web.Request, handler):
    """Count every answer by its route's pattern, never the raw path, so ids and probes cannot grow the label set.

    A request cut off (the client went away, the server stopping) is not counted: it got no answer.
    """
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _count(request, exc.status)
        raise
    except Exception:
        _count(request, 500)  # an error no middleware turned into an answer
        raise
    _count(request, response.status)
    return response


def _count(request: web.Request, status: int) -> None:
    resource = request.match_info.route.resource
    method = request.method if request.method in _METHODS else "other"
    route = resource.canonical if resource is not None else NO_ROUTE
    request.app[METRICS].http_requests.labels(method, route, str(status)).inc()


async def serve_metrics(request: web.Request) -> web.Response:
    """GET /metrics: for an admin of the whole deployment (area `/`), as Prometheus asks for it (its Accept header)."""
    principal = await require_principal(request, Role.ADMIN)
    if principal.area != "/":
        raise Problem(403, f"metrics cover the whole deployment: this needs an admin token of area /, not of {principal.area}")
    metrics = request.app[METRICS]
    await metrics.database_gauges.refresh(request.app[DATABASE], request.app[CLOCK]())
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def _probe_event_loop(lag: Histogram) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_PROBE_S
        await asyncio.sleep(LAG_PROBE_S)
        lag.observe(max(0.0, loop.time() - due))  # asyncio may wake a timer up to its clock resolution early


async def _watch_event_loop(app: web.Application) -> AsyncIterator[None]:
    probe = asyncio.get_running_loop().create_task(_probe_event_loop(app[METRICS].loop_lag_seconds), name="event-loop-lag-probe")
    yield
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)


def install_metrics(app: web.Application) -> None:
    """The app's metrics, its /metrics route and its event-loop probe. `count_requests` goes in the app's middlewares."""
    metrics = app[METRICS] = Metrics()
    metrics.watch(app)
    app.router.add_get("/metrics", serve_metrics)
    app.cleanup_ctx.append(_watch_event_loop)
