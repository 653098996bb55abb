"""/api/v1 proof of delivery (回传): an announcement's devices and how far it got on each (JSON, or CSV for the report
upward), and the devices that have not played a live emergency by the deadline (someone should go there)."""

from __future__ import annotations

import math
from datetime import UTC, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field

from announcements.delivery_report import (
    DeliveryReport,
    LiveEmergency,
    OverdueList,
    delivery_csv,
    delivery_report,
    live_emergencies,
    overdue_devices,
)
from announcements.errors import NotFound
from announcements.models import Announcement, Role
from announcements.registry import area_names
from announcements.requests.export import CsvLanguage
from announcements.tokens import Principal
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, HUB, SETTINGS
from broadcast_server.routing import RouteTable, json_response, parse_query

routes = RouteTable(prefix="/api/v1", tag="deliveries")
READERS = (Role.ADMIN, Role.COMMITTEE)
PAGE_DEFAULT = 1000
PAGE_MAX = 10_000


class CsvQuery(BaseModel):
    lang: CsvLanguage = Field(default=CsvLanguage.ZH, description="the CSV's headers and words: zh (default) or en (the API's field names)")


class ReportQuery(CsvQuery):
    format: Literal["json", "csv"] | None = Field(
        default=None,
        description="csv: the spreadsheet of every device; absent: as the Accept header asks (JSON unless it prefers text/csv)",
    )
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="devices on one page of the JSON (the CSV holds them all)")
    offset: int = Field(default=0, ge=0, description="devices to skip: the previous page's `next_offset`")


class OverdueQuery(BaseModel):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="the most devices to list (`total` counts them all)")


def prefers_csv(accept: str) -> bool:
    """Whether an Accept header ranks text/csv above application/json; JSON wins a tie, and when neither is named."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (p.strip() for p in part.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if math.isfinite(q):
            quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    return quality.get("text/csv", 0.0) > quality.get("application/json", 0.0)


async def _report(
    request: web.Request, principal: Principal, *, csv_lang: CsvLanguage | None, limit: int = PAGE_DEFAULT, offset: int = 0
) -> web.Response:
    """The report of the announcement the path names, of the devices the caller may see (`devices_seen_by`): JSON, or
    the CSV in `csv_lang`."""
    async with request.app[DATABASE].read() as session:
        announcement = await session.get(Announcement, request.match_info["id"])
        if announcement is None:
            raise NotFound(f"no announcement {request.match_info['id']} in scope")
        names = await area_names(session=session)
        presence = await request.app[HUB].presence(session=session)
        if csv_lang is None:
            report = await delivery_report(
                session=session, announcement=announcement, principal=principal, names=names, presence=presence,
                limit=limit, offset=offset,
            )
            return json_response(report, headers={"Vary": "Accept"})
        zone = ZoneInfo(request.app[SETTINGS].timezone)
        body = await delivery_csv(
            session=session, announcement=announcement, principal=principal, names=names, presence=presence, zone=zone,
            lang=csv_lang,
        )
    stamp = request.app[CLOCK]().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="deliveries-{announcement.id}-{stamp}.csv"',
            "Cache-Control": "no-store",
            "Vary": "Accept",
        },
    )


@routes.get(
    "/announcements/{id}/deliveries",
    summary="Proof of delivery: every device the announcement targets, with when it received, displayed and played it, "
    "and the time until 50, 90 and 100 % played it; CSV with ?format=csv or Accept: text/csv",
    query=ReportQuery,
    response=DeliveryReport,
    also=(("text/csv", str),),
)
async def get_deliveries(request: web.Request) -> web.Response:
    principal = await require_principal(request, *READERS)
    query = parse_query(request, ReportQuery)
    as_csv = query.format == "csv" if query.format else prefers_csv(request.headers.get("Accept", ""))
    return await _report(request, principal, csv_lang=query.lang if as_csv else None, limit=query.limit, offset=query.offset)


@routes.get(
    "/announcements/{id}/deliveries.csv",
    summary="Proof of delivery as a spreadsheet (UTF-8 with BOM, times in the server's time zone), Chinese headers unless lang=en",
    query=CsvQuery,
    response=str,
    content_type="text/csv",
)
async def get_deliveries_csv(request: web.Request) -> web.Response:
    principal = await require_principal(request, *READERS)
    return await _report(request, principal, csv_lang=parse_query(request, CsvQuery).lang)


@routes.get(
    "/deliveries/overdue",
    summary="Devices in scope that have not played a live emergency within emergency_play_deadline_s: someone should go there",
    query=OverdueQuery,
    response=OverdueList,
)
async def get_overdue(request: web.Request) -> web.Response:
    principal = await require_principal(request, *READERS)
    query = parse_query(request, OverdueQuery)
    deadline = timedelta(seconds=request.app[SETTINGS].emergency_play_deadline_s)
    async with request.app[DATABASE].read() as session:
        names = await area_names(session=session)
        answer = await overdue_devices(
            session=session, scope=principal.area, now=request.app[CLOCK](), deadline=deadline, names=names,
            presence=await request.app[HUB].presence(session=session), limit=query.limit,
        )
    return json_response(answer)


@routes.get(
    "/deliveries/emergencies",
    summary="The live emergencies (drills too) whose 回传 report the caller may read: posted in its scope, or reaching "
    "devices in its area; newest first",
    response=list[LiveEmergency],
)
async def get_live_emergencies(request: web.Request) -> web.Response:
    principal = await require_principal(request, *READERS)
    async with request.app[DATABASE].read() as session:
        return json_response(await live_emergencies(session=session, principal=principal))
