"""/api/v1/templates: notice templates (模板) to start a new notice from (announcements/templates.py)."""

from aiohttp import web

from announcements.models import Role, TemplateCreate, TemplatePublic, TemplateUpdate
from announcements.templates import create_template, delete_template, list_templates, public, update_template
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE, SETTINGS
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="templates")
KEEPERS = (Role.ADMIN, Role.COMMITTEE)  # those who post


@routes.post("/templates", summary="Keep a notice as a template", body=TemplateCreate, response=TemplatePublic, status=201)
async def post_template(request: web.Request) -> web.Response:
    principal = await require_principal(request, *KEEPERS)
    data = await parse_body(request, TemplateCreate)
    async with request.app[DATABASE].write() as session:
        template = await create_template(session=session, data=data, principal=principal, media_dir=request.app[SETTINGS].media_dir)
        answer = public(template, principal)
    return json_response(answer, status=201)


@routes.get("/templates", summary="The templates the caller may use: its scope's, then those made above it", response=list[TemplatePublic])
async def get_templates(request: web.Request) -> web.Response:
    principal = await require_principal(request, *KEEPERS)
    async with request.app[DATABASE].read() as session:
        templates = await list_templates(session=session, principal=principal)
    return json_response([public(t, principal) for t in templates])


@routes.patch("/templates/{id}", summary="Rename or edit a template of the caller's scope", body=TemplateUpdate, response=TemplatePublic)
async def patch_template(request: web.Request) -> web.Response:
    principal = await require_principal(request, *KEEPERS)
    changes = await parse_body(request, TemplateUpdate)
    async with request.app[DATABASE].write() as session:
        template = await update_template(
            session=session, template_id=request.match_info["id"], changes=changes, principal=principal,
            media_dir=request.app[SETTINGS].media_dir,
        )
        answer = public(template, principal)
    return json_response(answer)


@routes.delete("/templates/{id}", summary="Delete a template of the caller's scope", status=204)
async def delete_one_template(request: web.Request) -> web.Response:
    principal = await require_principal(request, *KEEPERS)
    async with request.app[DATABASE].write() as session:
        await delete_template(session=session, template_id=request.match_info["id"], principal=principal)
    return web.Response(status=204)
