"""GET /api/v1/requests.csv: a spreadsheet export that opens right in Excel and keeps phones private."""

import csv
import io

from tests.requests.conftest import VILLAGE, http_reply


async def _csv(village, token=None, **params):
    async with village.http.get(village.url + "/api/v1/requests.csv", headers=village.auth(token), params=params) as resp:
        return resp.status, resp.headers, await resp.read()


def _rows(raw: bytes) -> dict[str, dict]:
    return {row["ticket"]: row for row in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}


async def test_csv_has_bom_chinese_masked_phones_and_no_formulas(village, gate):
    """UTF-8 with BOM and CRLF rows, Chinese intact, phones masked as 138****5678, formula-like text kept as text."""
    lamp = await http_reply(village, gate["token"], text="村口路灯坏了，晚上很黑，请尽快修理。", contact={"name": "张三", "phone": "13812345678"})
    trick = await http_reply(village, gate["token"], text='=HYPERLINK("http://example.com","点我")', contact={"phone": "+86 139 0000 1111"})
    status, headers, raw = await _csv(village)
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in headers["Content-Disposition"]
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = _rows(raw)
    assert rows[lamp["ticket"]]["text"] == "村口路灯坏了，晚上很黑，请尽快修理。" and rows[lamp["ticket"]]["contact_name"] == "张三"
    assert rows[lamp["ticket"]]["contact_phone"] == "138****5678" and rows[lamp["ticket"]]["area"] == VILLAGE
    assert rows[trick["ticket"]]["text"] == '\'=HYPERLINK("http://example.com","点我")'
    assert rows[trick["ticket"]]["contact_phone"].startswith("'+86") and rows[trick["ticket"]]["contact_phone"].endswith("1111")
    assert b"13812345678" not in raw and "0000 1111" not in raw.decode("utf-8-sig")


async def test_only_an_admin_unmasks_and_filters_apply(village, gate):
    """?unmask=true shows phones to an admin only (403 for others); the list filters narrow the export."""
    ticket = (await http_reply(village, gate["token"], category="help", contact={"phone": "13812345678"}))["ticket"]
    await http_reply(village, gate["token"], category="question")
    status, _, raw = await _csv(village, unmask="true")
    assert status == 200 and _rows(raw)[ticket]["contact_phone"] == "13812345678"
    committee = await village.token("committee", VILLAGE)
    assert (await _csv(village, committee, unmask="true"))[0] == 403
    status, _, raw = await _csv(village, committee, category="help", tz="Asia/Shanghai")
    assert status == 200 and list(_rows(raw)) == [ticket] and _rows(raw)[ticket]["contact_phone"] == "138****5678"
    stranger = await village.token("worker", "/hongqi/xincun")
    status, _, raw = await _csv(village, stranger)
    assert status == 200 and _rows(raw) == {}
    assert (await _csv(village, tz="Mars/Olympus"))[0] == 422
