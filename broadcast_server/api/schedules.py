"""/api/v1/schedules: timed broadcasts (定时广播) and their coming occurrences, by PROTOCOL.md 1.1's names."""

from aiohttp import web
from pydantic import BaseModel, Field

from announcements.models import Role, ScheduleCreate, SchedulePublic, ScheduleUpdate, UpcomingDay
from announcements.schedules import (
    UPCOMING_DAYS_MAX,
    create_schedule,
    get_schedule,
    list_schedules,
    public,
    stop_schedule,
    upcoming,
    update_schedule,
)
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, DISPATCHER, SETTINGS
from broadcast_server.routing import RouteTable, json_response, parse_body, parse_query

routes = RouteTable(prefix="/api/v1", tag="schedules")
SCHEDULERS = (Role.ADMIN, Role.COMMITTEE)


class UpcomingQuery(BaseModel):
    days: int = Field(default=14, ge=1, le=UPCOMING_DAYS_MAX)


@routes.post("/schedules", summary="Make a timed broadcast", body=ScheduleCreate, response=SchedulePublic, status=201)
async def post_schedule(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    data = await parse_body(request, ScheduleCreate)
    async with request.app[DATABASE].write() as session:
        schedule = await create_schedule(
            session=session, data=data, principal=principal, now=request.app[CLOCK](), timezone=request.app[SETTINGS].timezone,
            media_dir=request.app[SETTINGS].media_dir,
        )
        answer = public(schedule)
    request.app[DISPATCHER].poke()
    return json_response(answer, status=201)


@routes.get("/schedules", summary="Timed broadcasts in scope, running ones first", response=list[SchedulePublic])
async def get_schedules(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    async with request.app[DATABASE].read() as session:
        schedules = await list_schedules(session=session, principal=principal)
    return json_response([public(s) for s in schedules])


@routes.get("/schedules/upcoming", summary="The coming days (local dates) with each occurrence in scope", query=UpcomingQuery,
            response=list[UpcomingDay])
async def get_upcoming(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    query = parse_query(request, UpcomingQuery)
    async with request.app[DATABASE].read() as session:
        days = await upcoming(
            session=session, principal=principal, now=request.app[CLOCK](), days=query.days, timezone=request.app[SETTINGS].timezone
        )
    return json_response(days)


@routes.get("/schedules/{id}", summary="One timed broadcast", response=SchedulePublic)
async def get_one_schedule(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    async with request.app[DATABASE].read() as session:
        schedule = await get_schedule(session=session, schedule_id=request.match_info["id"], principal=principal)
    return json_response(public(schedule))


@routes.patch("/schedules/{id}", summary="Edit the notice or the rule, pause or resume", body=ScheduleUpdate, response=SchedulePublic)
async def patch_schedule(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    changes = await parse_body(request, ScheduleUpdate)
    async with request.app[DATABASE].write() as session:
        schedule = await update_schedule(
            session=session, schedule_id=request.match_info["id"], changes=changes, principal=principal, now=request.app[CLOCK](),
            media_dir=request.app[SETTINGS].media_dir,
        )
        answer = public(schedule)
    request.app[DISPATCHER].poke()
    return json_response(answer)


@routes.delete("/schedules/{id}", summary="Stop for good (what it already broadcast stays)", status=204)
async def delete_schedule(request: web.Request) -> web.Response:
    principal = await require_principal(request, *SCHEDULERS)
    async with request.app[DATABASE].write() as session:
        await stop_schedule(session=session, schedule_id=request.match_info["id"], principal=principal)
    return web.Response(status=204)
