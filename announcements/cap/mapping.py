"""From a CAP alert's `<info>` to an announcement, by the deployment's settings (the `cap_*` settings).

- which `<info>`: those in the first of `cap_languages` any of them is in (zh-CN, then any zh-*), else the first;
- `headline` (else `event`) is the title, `description` and `instruction` the body, cut to the announcement's
  limits with a marker rather than refused: a long warning still goes out;
- severity, urgency and certainty give the priority by `cap_priority_rules`, the first rule that matches;
- `<area>`s give the target: each by its `<geocode>`s (those whose valueName is one of `cap_geocode_names`)
  against the areas' division codes, else by its `<areaDesc>` equal to an area's name (`cap_match_area_names`);
- `effective` (or `onset`, by `cap_publish_from`) is `publish_at`, `expires` is `expires_at`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import annotated_types
from pydantic import BaseModel, ConfigDict

from announcements.areas import covers
from announcements.cap.alert import Alert, Info
from announcements.cap.refusals import CapRefused, Refusal
from announcements.models import AnnouncementBase, AnnouncementCreate, AnnouncementUpdate, Area, TargetSpec
from announcements.protocol import Language, Priority

Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
PublishFrom = Literal["effective", "onset"]


def _max_length(model: type[BaseModel], name: str) -> int:
    """A field's max_length as the model declares it: the mapping cuts to the very limits the model checks."""
    return next(m.max_length for m in model.model_fields[name].metadata if isinstance(m, annotated_types.MaxLen))


TITLE_MAX = _max_length(AnnouncementBase, "title")
BODY_MAX = _max_length(AnnouncementBase, "body")
MAX_TARGET_AREAS = _max_length(TargetSpec, "areas")
TITLE_CUT = "…"
BODY_CUT = "……（预警全文较长，以上为节选）"
# CAP categories to the console's announcement categories; the rest (Geo, Safety, Fire, Env, ...) are "safety".
_CATEGORIES = {"Met": "weather", "Health": "health", "Other": "other"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_AREA_NAME_SEPARATORS = re.compile(r"[、，,；;]")
# Digits per level of an administrative division code: province, city, county (GB/T 2260), township, village.
_DIVISION_LEVELS = (2, 2, 2, 3, 3)


class PriorityRule(BaseModel):
    """One row of the priority table: the CAP values it matches (a list left out matches any) and the priority."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: list[Severity] | None = None
    urgency: list[Urgency] | None = None
    certainty: list[Certainty] | None = None
    priority: Priority

    def matches(self, info: Info) -> bool:
        return all(
            allowed is None or value in allowed
            for allowed, value in ((self.severity, info.severity), (self.urgency, info.urgency), (self.certainty, info.certainty))
        )

    @property
    def matches_all(self) -> bool:
        return self.severity is None and self.urgency is None and self.certainty is None


def default_priority_rules() -> list[PriorityRule]:
    """Extreme or Severe with Immediate or Expected urgency is an emergency; other Extreme or Severe high;
    Moderate normal; Minor and Unknown low."""
    return [
        PriorityRule(severity=["Extreme", "Severe"], urgency=["Immediate", "Expected"], priority=Priority.EMERGENCY),
        PriorityRule(severity=["Extreme", "Severe"], priority=Priority.HIGH),
        PriorityRule(severity=["Moderate"], priority=Priority.NORMAL),
        PriorityRule(priority=Priority.LOW),
    ]


def check_priority_rules(rules: list[PriorityRule]) -> list[PriorityRule]:
    """The table must give every alert a priority: its last rule matches anything (names no severity, urgency or certainty)."""
    if not rules or not rules[-1].matches_all:
        raise ValueError('the last rule must match every alert: give it only a priority, such as {priority = "low"}')
    return rules


@dataclass(frozen=True)
class MappingRules:
    """The `cap_*` settings the mapping follows."""

    languages: tuple[str, ...]
    geocode_names: tuple[str, ...]
    match_area_names: bool
    priority_rules: tuple[PriorityRule, ...]
    publish_from: PublishFrom


def _in_language(language: str, wanted: str) -> bool:
    language, wanted = language.lower(), wanted.lower()
    return language == wanted or language.startswith(wanted + "-")


def chosen_infos(alert: Alert, languages: Sequence[str]) -> list[Info]:
    """The `<info>`s to broadcast: all of those in the first preferred language any is in, else the first one."""
    for wanted in languages:
        infos = [info for info in alert.infos if _in_language(info.language, wanted)]
        if infos:
            return infos
    return list(alert.infos[:1])


def priority_of(info: Info, rules: Sequence[PriorityRule]) -> Priority:
    return next(rule.priority for rule in rules if rule.matches(info))


def _cut(text: str, limit: int, marker: str) -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def title_and_body(info: Info) -> tuple[str, str]:
    title = _cut(info.headline or info.event or "预警信息", TITLE_MAX, TITLE_CUT)
    body = "\n\n".join(part for part in (info.description, info.instruction) if part) or title
    return title, _cut(body, BODY_MAX, BODY_CUT)


def language_of(info: Info) -> Language:
    """English only when the info says so and its text has no Chinese: an alert without <language> is en-US by
    CAP's default, though a Chinese sender may simply have left it out."""
    english = _in_language(info.language, "en") and not _CJK.search(" ".join(filter(None, (info.headline, info.description))))
    return Language.EN if english else Language.ZH


def category_of(info: Info) -> str:
    return _CATEGORIES.get(info.categories[0], "safety") if info.categories else "safety"


def division_prefix(code: str) -> str:
    """A division code without its trailing all-zero levels: what every code inside the division starts with.
    330108 (a county) is 330108, 330100 (its city) 3301, 330108001000 (a township) 330108001."""
    if len(code) not in (6, 9, 12) or not code.isdigit():
        return code  # not a standard length: matched exactly
    levels, start = [], 0
    for width in _DIVISION_LEVELS:
        if start >= len(code):
            break
        levels.append(code[start:start + width])
        start += width
    while len(levels) > 1 and not levels[-1].strip("0"):
        levels.pop()
    return "".join(levels)


def _outermost(paths: set[str]) -> list[str]:
    """The paths that no other of them covers: targeting an area reaches the areas below it anyway."""
    return sorted(p for p in paths if not any(other != p and covers(other, p) for other in paths))


def _is_division_code(value_name: str, rules: MappingRules) -> bool:
    return value_name.strip().casefold() in {n.strip().casefold() for n in rules.geocode_names}


def named_areas(infos: Sequence[Info], rules: MappingRules) -> list[str]:
    """What the infos' `<area>`s name, as the admins' list shows it: descriptions and division codes, each once."""
    named = [
        text
        for info in infos
        for area in info.areas
        for text in (area.desc, *(g.value for g in area.geocodes if _is_division_code(g.value_name, rules)))
        if text
    ]
    return list(dict.fromkeys(named))


def match_areas(infos: Sequence[Info], areas: Sequence[Area], rules: MappingRules) -> list[str]:
    """The area paths (of `areas`, those the poster may reach) that the infos' `<area>`s name, outermost only."""
    coded = [(division_prefix(code), area.path) for area in areas for code in area.geocodes or ()]
    matched: set[str] = set()
    for info in infos:
        for alert_area in info.areas:
            prefixes = [division_prefix(g.value) for g in alert_area.geocodes if g.value and _is_division_code(g.value_name, rules)]
            found = {path for prefix in prefixes for code, path in coded if code.startswith(prefix)}
            if not found and rules.match_area_names:
                names = {part.strip() for part in (alert_area.desc, *_AREA_NAME_SEPARATORS.split(alert_area.desc))} - {""}
                found = {area.path for area in areas if area.name.strip() in names}
            matched |= found
    outermost = _outermost(matched)
    if len(outermost) > MAX_TARGET_AREAS:
        msg = f"the alert names {len(outermost)} areas here, more than {MAX_TARGET_AREAS}: give their township or county its division code"
        raise CapRefused(Refusal.TOO_MANY_AREAS, msg, loc=["alert", "info", "area"])
    return outermost


def _times(info: Info, rules: MappingRules, now: datetime) -> tuple[datetime | None, datetime | None]:
    """publish_at and expires_at; an alert that has expired, or expires before it starts, is refused."""
    publish_at = (info.onset or info.effective) if rules.publish_from == "onset" else info.effective
    if info.expires is not None and info.expires <= now:
        raise CapRefused(Refusal.TIMES_INVALID, f"the alert expired at {info.expires.isoformat()}", loc=["alert", "info", "expires"])
    if info.expires is not None and publish_at is not None and info.expires <= publish_at:
        msg = f"expires ({info.expires.isoformat()}) is not after {rules.publish_from} ({publish_at.isoformat()})"
        raise CapRefused(Refusal.TIMES_INVALID, msg, loc=["alert", "info", "expires"])
    return publish_at, info.expires


def announcement_for(info: Info, *, drill: bool, areas: list[str], rules: MappingRules, now: datetime) -> AnnouncementCreate:
    """The announcement an `<info>` becomes, targeting `areas`. A drill's priority is left to the drill rule (emergency)."""
    title, body = title_and_body(info)
    publish_at, expires_at = _times(info, rules, now)
    fields = {} if drill else {"priority": priority_of(info, rules.priority_rules)}
    return AnnouncementCreate(
        title=title, body=body, category=category_of(info), language=language_of(info), target=TargetSpec(areas=areas),
        publish_at=publish_at, expires_at=expires_at, drill=drill, **fields,
    )


def revision_for(info: Info, *, drill: bool, rules: MappingRules, now: datetime) -> AnnouncementUpdate:
    """What an Update's `<info>` changes in an announcement already made: its text, priority and expiry."""
    title, body = title_and_body(info)
    _, expires_at = _times(info, rules, now)
    fields = {} if drill else {"priority": priority_of(info, rules.priority_rules)}
    return AnnouncementUpdate(title=title, body=body, expires_at=expires_at, **fields)
