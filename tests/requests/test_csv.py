"""GET /api/v1/requests.csv: a spreadsheet export that opens right in Excel and keeps phones private."""

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.requests.conftest import VILLAGE, http_reply


async def _csv(village, token=None, **params):
    """The export; in English (the API's field names) unless a test asks for `lang`."""
    params.setdefault("lang", "en")
    async with village.http.get(village.url + "/api/v1/requests.csv", headers=village.auth(token), params=params) as resp:
        return resp.status, resp.headers, await resp.read()


def _rows(raw: bytes) -> dict[str, dict]:
    return {row["ticket"]: row for row in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}


async def test_csv_has_bom_chinese_masked_phones_and_no_formulas(village, gate):
    """UTF-8 with BOM and CRLF rows, Chinese intact, phones masked as 138****5678, formula-like text kept as text."""
    lamp = await http_reply(
        village, gate["token"], text="村口路灯坏了，晚上很黑，请尽快修理。", contact={"name": "张三", "phone": "13812345678"}
    )
    trick = await http_reply(village, gate["token"], text='=HYPERLINK("http://example.com","点我")', contact={"phone": "+86 139 0000 1111"})
    await village.call("PATCH", "/areas/%2Fhongqi%2Fliujingtun", json={"name": "刘井屯村"}, expect=200)
    status, headers, raw = await _csv(village)
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in headers["Content-Disposition"]
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = _rows(raw)
    assert rows[lamp["ticket"]]["text"] == "村口路灯坏了，晚上很黑，请尽快修理。" and rows[lamp["ticket"]]["contact_name"] == "张三"
    assert rows[lamp["ticket"]]["contact_phone"] == "138****5678" and rows[lamp["ticket"]]["area"] == VILLAGE
    assert rows[lamp["ticket"]]["area_name"] == "刘井屯村"  # the name people know, beside the path
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


async def test_the_export_lists_oldest_first_and_the_overdue_filter_holds(village, gate, clock):
    """Rows come in the order the requests were taken in (not by ticket, which is drawn at random); ?overdue=true
    keeps only those past their deadline at the server's time, ?overdue=false the others."""
    start = datetime.now(UTC)
    taken = []
    for minutes in range(6):
        clock.at = start + timedelta(minutes=minutes)
        taken.append((await http_reply(village, gate["token"], category="suggestion" if minutes else "help"))["ticket"])
    assert list(_rows((await _csv(village))[2])) == taken
    clock.at = start + timedelta(hours=3)  # past the help request's 2 h, within the suggestions' deadline
    rows = _rows((await _csv(village))[2])
    assert [rows[t]["overdue"] for t in taken] == ["yes"] + ["no"] * 5
    assert rows[taken[0]]["contact_name"] == "" and rows[taken[0]]["resolved_at"] == ""  # nothing there: an empty cell
    assert list(_rows((await _csv(village, overdue="true"))[2])) == taken[:1]
    assert list(_rows((await _csv(village, overdue="false"))[2])) == taken[1:]


# Whitespace a spreadsheet may skip before a formula sign, as far as a reply may hold it (not \x0b, \x0c, \x1c-\x1f).
WHITESPACE = [c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x0b\x0c\x1c\x1d\x1e\x1f"]
SIGNS = "=+-@＝＋－＠﹦﹢﹣﹫⁼⁺₌₊"  # ASCII, fullwidth, small, superscript and subscript forms
FORMULA_LIKE = [
    "=1+1", "+86 139", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1", " =1", "  +1", "\u3000=1", " \t\r\n@x",
    "＝HYPERLINK(\"http://example.com\")", "＋1", "－1", "＠x", "\u3000＝1", "\ttext", "\rtext",
]
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)


@pytest.fixture
def settings(settings):
    """One screen sends many replies here: no rate limit."""
    return settings.model_copy(update={"reply_rate_per_minute": 0})


async def _exported_text(village, gate, text: str) -> str:
    ticket = (await http_reply(village, gate["token"], text=text))["ticket"]
    return _rows((await _csv(village))[2])[ticket]["text"]


async def test_formula_signs_after_whitespace_or_in_fullwidth_are_kept_as_text(village, gate):
    """Leading whitespace (tab, CR, LF, spaces, U+3000) before a sign, fullwidth signs, a leading tab or CR: all get the '."""
    tickets = {(await http_reply(village, gate["token"], text=text))["ticket"]: text for text in FORMULA_LIKE}
    rows = _rows((await _csv(village))[2])
    assert {rows[ticket]["text"]: text for ticket, text in tickets.items()} == {"'" + text: text for text in FORMULA_LIKE}


CSV_PROFILE = hypothesis_settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@CSV_PROFILE
@given(prefix=st.text(st.sampled_from(WHITESPACE), max_size=4), sign=st.sampled_from(SIGNS), rest=texts)
async def test_any_whitespace_then_any_form_of_a_sign_is_kept_as_text(village, gate, prefix, sign, rest):
    """Whatever whitespace comes first, a sign in any form NFKC folds to = + - @ gets the ', and the text is kept whole."""
    text = prefix + sign + rest
    assert await _exported_text(village, gate, text) == "'" + text


@CSV_PROFILE
@given(
    prefix=st.text(st.sampled_from([c for c in WHITESPACE if c not in "\t\r"]), max_size=3),
    first=st.characters(categories=("L", "N")),
    rest=texts,
)
async def test_ordinary_text_is_exported_unchanged(village, gate, prefix, first, rest):
    """Text that starts (after any spaces) with a letter or digit is not touched."""
    text = prefix + first + rest
    assert await _exported_text(village, gate, text) == text


async def test_every_time_is_in_the_clerks_zone_and_the_follow_up_is_worded(village, gate, clock):
    """A complaint taken in at 09:00 in Beijing, answered at 10:00, resolved at 11:00 and closed by the villager's
    "satisfied" at 12:00: each time column says that local time (tz=Asia/Shanghai), the deadlines follow from the
    category's, and the follow-up column words the rating."""
    start = datetime(2030, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    clock.at = start
    ticket = (await http_reply(village, gate["token"], category="complaint"))["ticket"]
    for hours, change in ((1, {"response": "收到。"}), (2, {"status": "resolved", "response": "已修好。"})):
        clock.at = start + timedelta(hours=hours)
        await village.call("PATCH", f"/requests/{ticket}", json=change, expect=200)
    clock.at = start + timedelta(hours=3)
    await village.call("POST", f"/requests/{ticket}/feedback", token=gate["token"], json={"rating": "satisfied"}, expect=200)
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)

    def local(value: str) -> str:
        return datetime.fromisoformat(value).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")

    _, _, raw = await _csv(village, tz="Asia/Shanghai")
    row = _rows(raw)[ticket]
    assert (row["created_at"], row["first_response_at"], row["resolved_at"], row["closed_at"]) == (
        "2030-05-06 09:00:00", "2030-05-06 10:00:00", "2030-05-06 11:00:00", "2030-05-06 12:00:00"
    )
    assert (row["response_due_at"], row["resolution_due_at"]) == (local(detail["response_due_at"]), local(detail["resolution_due_at"]))
    assert row["response_due_at"] > row["created_at"] and row["follow_up"] == "satisfied"
    _, _, raw = await _csv(village, tz="Asia/Shanghai", lang="zh")
    assert {r["编号"]: r["回访结果"] for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}[ticket] == "满意"
