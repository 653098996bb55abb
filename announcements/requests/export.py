"""The request log as a spreadsheet: Chinese headers and words by default (a clerk opens it in Excel), English on request.

UTF-8 with a BOM (so Excel reads Chinese right), CRLF rows, phones masked unless the caller may and
asks to see them, and villagers' text never read as a formula (OWASP CSV injection).
`spreadsheet` writes any such file (the delivery report's too: announcements/delivery_report.py).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import FollowUp, RequestSource, ServiceRequest
from announcements.requests.queries import is_overdue
from announcements.requests.text import mask_phone


class CsvLanguage(StrEnum):
    ZH = "zh"
    EN = "en"


# (English header, Chinese header): the English ones are the field names of the API.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("ticket", "编号"), ("created_at", "受理时间"), ("status", "状态"), ("category", "类别"), ("area", "区域"), ("area_name", "区域名称"),
    ("text", "村民反映"), ("contact_name", "联系人"), ("contact_phone", "联系电话"), ("assignee", "承办人"),
    ("response", "答复"), ("first_response_at", "首次答复时间"), ("resolved_at", "办结时间"), ("closed_at", "关闭时间"),
    ("response_due_at", "答复期限"), ("resolution_due_at", "办结期限"), ("overdue", "是否超期"), ("follow_up", "回访结果"),
    ("announcement_id", "相关公告"), ("source", "来源"),
)

# The Chinese words of the values, as the console shows them (console/i18n/zh.js rqstatus.*, rqcat.*, followup.*).
CHINESE: dict[str, str] = {
    RequestStatus.RECEIVED: "已受理", RequestStatus.ASSIGNED: "已分派", RequestStatus.IN_PROGRESS: "办理中",
    RequestStatus.RESOLVED: "已办结", RequestStatus.CLOSED: "已关闭", RequestStatus.REJECTED: "不予受理",
    RequestCategory.SUGGESTION: "建议", RequestCategory.COMPLAINT: "投诉", RequestCategory.HELP: "求助",
    RequestCategory.DISPUTE: "纠纷", RequestCategory.QUESTION: "咨询", RequestCategory.OTHER: "其他",
    FollowUp.SATISFIED: "满意", FollowUp.BASICALLY_SATISFIED: "基本满意", FollowUp.DISSATISFIED: "不满意",
    FollowUp.NONE: "未回复",
    RequestSource.SCREEN: "屏幕", RequestSource.HTTP: "屏幕", RequestSource.OPEN311: "Open311",
}
YES_NO = {CsvLanguage.ZH: ("是", "否"), CsvLanguage.EN: ("yes", "no")}
_FORMULA_START = ("=", "+", "-", "@")


def _may_be_formula(text: str) -> bool:
    """Whether a spreadsheet might read `text` as a formula.

    A leading tab or carriage return, or a formula sign as the first character after any whitespace
    (spreadsheets skip it), in any form NFKC folds to the ASCII sign: fullwidth ＝＋－＠, small ﹦﹢﹣﹫.
    """
    if text.startswith(("\t", "\r")):
        return True
    first = text.lstrip()[:1]
    return unicodedata.normalize("NFKC", first).startswith(_FORMULA_START)


def _cell(value, lang: CsvLanguage) -> str:
    """A spreadsheet cell in `lang`: words of the vocabulary translated, text never a formula (a leading ' keeps it text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        yes, no = YES_NO[lang]
        return yes if value else no
    text = str(value)
    if lang == CsvLanguage.ZH and isinstance(value, StrEnum):
        text = CHINESE.get(value, text)
    return "'" + text if _may_be_formula(text) else text


def local_time(value: datetime | None, zone: ZoneInfo) -> str | None:
    """A time as a spreadsheet shows it: wall time in `zone`, to the second."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else None


def spreadsheet(columns: Sequence[tuple[str, str]], rows: Iterable[Iterable], *, lang: CsvLanguage) -> bytes:
    """A CSV file Excel opens right: `columns` are (English, Chinese) headers, each value a cell in `lang`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(zh if lang == CsvLanguage.ZH else en for en, zh in columns)
    for values in rows:
        writer.writerow(_cell(v, lang) for v in values)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def requests_csv(
    rows: Sequence[ServiceRequest],
    *,
    now: datetime,
    unmask: bool,
    zone: ZoneInfo,
    area_names: dict[str, str],
    lang: CsvLanguage = CsvLanguage.ZH,
) -> bytes:
    """The rows as CSV; `area_names` (path -> name, `registry.area_names`) puts the name people know beside the path."""
    def when(value: datetime | None) -> str | None:
        return local_time(value, zone)

    def values_of(r: ServiceRequest) -> tuple:
        return (
            r.ticket, when(r.created_at), RequestStatus(r.status), RequestCategory(r.category), r.area, area_names.get(r.area),
            r.text, r.contact_name,
            r.contact_phone if unmask else mask_phone(r.contact_phone), r.assignee, r.response,
            when(r.first_response_at), when(r.resolved_at), when(r.closed_at), when(r.response_due_at),
            when(r.resolution_due_at), is_overdue(r, now), FollowUp(r.follow_up) if r.follow_up else None,
            r.announcement_id, RequestSource(r.source),
        )

    return spreadsheet(COLUMNS, map(values_of, rows), lang=lang)
