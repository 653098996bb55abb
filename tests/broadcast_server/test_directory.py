"""Hellos answered from memory (broadcast_server/directory.py): a storm of hellos reads no token or screen from the
database, and what changes a hello's answer (a revocation, a removal, a move, a new area name) is never answered
from a stale memory, on this replica or on another."""

import sqlalchemy as sa

from announcements.database import Database
from broadcast_server.app import create_app
from broadcast_server.keys import DATABASE

VILLAGE, OTHER = "/hongqi/liujingtun", "/hongqi/xincun"


class StatementLog:
    """The SQL statements the app's engine runs while it is attached."""

    def __init__(self, db: Database):
        self.engine = db.engine.sync_engine
        self.statements: list[str] = []
        sa.event.listen(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, *args) -> None:
        self.statements.append(statement.lower())

    def reading(self, table: str) -> list[str]:
        return [s for s in self.statements if f"from {table}" in s or f"join {table}" in s]

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._note)


async def welcome(village, token, url=None) -> dict:
    ws = await village.http.ws_connect((url or village.url) + "/ws")
    await ws.send_json({"type": "hello", "token": token, "last_seq": None})
    frame = await ws.receive_json(timeout=10)
    await ws.close()
    return frame


async def test_screens_registered_before_a_start_say_hello_without_a_token_or_screen_read(village, settings, aiohttp_server):
    for path, name in ((VILLAGE, "柳井屯"), (OTHER, "新村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
    screens = [await village.screen(f"屏 {n}", VILLAGE) for n in range(5)]
    restarted = await aiohttp_server(create_app(settings))  # loads its directory at start, as after a restart
    url = str(restarted.make_url("")).rstrip("/")
    log = StatementLog(restarted.app[DATABASE])
    try:
        for screen in screens:
            frame = await welcome(village, screen["token"], url)
            assert (frame["type"], frame["screen_id"], frame["area_name"]) == ("welcome", screen["id"], "柳井屯")
        assert log.reading("token") == [] and log.reading("screen") == []
    finally:
        log.close()


async def test_what_changes_a_hello_is_never_answered_from_memory(village):
    """Each screen says hello once (it is then held in memory); then its area is renamed, it is moved, its token
    revoked, or it is removed, and its next hello says so."""
    for path, name in ((VILLAGE, "柳井屯"), (OTHER, "新村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
    renamed, moved, revoked, removed = [await village.screen(f"屏 {n}", VILLAGE) for n in range(4)]
    for screen in (renamed, moved, revoked, removed):
        assert (await welcome(village, screen["token"]))["type"] == "welcome"
    await village.call("PATCH", f"/areas/{VILLAGE.replace('/', '%2F')}", json={"name": "柳井屯村"}, expect=200)
    await village.call("PATCH", f"/screens/{moved['id']}", json={"area": OTHER}, expect=200)
    _, tokens = await village.call("GET", "/tokens", expect=200)
    token_id = next(t["id"] for t in tokens if t.get("screen_id") == revoked["id"])
    await village.call("DELETE", f"/tokens/{token_id}", expect=204)
    await village.call("DELETE", f"/screens/{removed['id']}", expect=204)
    assert (await welcome(village, renamed["token"]))["area_name"] == "柳井屯村"
    assert ((frame := await welcome(village, moved["token"]))["area"], frame["area_name"]) == (OTHER, "新村")
    for screen in (revoked, removed):
        frame = await welcome(village, screen["token"])
        assert (frame["type"], frame["code"]) == ("error", "unauthorized")
