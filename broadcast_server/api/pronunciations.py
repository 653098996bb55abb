"""/api/v1/pronunciations: the deployment's pronunciation list (读音, announcements/pronunciations.py)."""

from aiohttp import web

from announcements.models import PronunciationEntry, PronunciationPublic, PronunciationSay, Role
from announcements.pronunciations import delete_pronunciation, list_pronunciations, put_pronunciation
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="pronunciations")


@routes.get("/pronunciations", summary="The words said otherwise than eSpeak NG would, sorted by word",
            response=list[PronunciationPublic])
async def get_pronunciations(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    async with request.app[DATABASE].read() as session:
        rows = await list_pronunciations(session=session)
    return json_response([PronunciationPublic.model_validate(row, from_attributes=True) for row in rows])


@routes.route("PUT", "/pronunciations/{word}", summary="Say a word otherwise: create its entry or replace it",
            body=PronunciationSay, response=PronunciationPublic)
async def put_one_pronunciation(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    body = await parse_body(request, PronunciationSay)
    entry = PronunciationEntry(word=request.match_info["word"], say=body.say)  # a bad word: the 422 naming `word`
    async with request.app[DATABASE].write() as session:
        row = await put_pronunciation(session=session, entry=entry, principal=principal)
        answer = PronunciationPublic.model_validate(row, from_attributes=True)
    return json_response(answer)


@routes.delete("/pronunciations/{word}", summary="Let eSpeak NG say a word its own way again", status=204)
async def delete_one_pronunciation(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].write() as session:
        await delete_pronunciation(session=session, word=request.match_info["word"])
    return web.Response(status=204)
