"""Why a CAP alert is refused: one code per reason, carried as `errors[].type` of the problem answer."""

from __future__ import annotations

from enum import StrEnum

from announcements.errors import Invalid


class Refusal(StrEnum):
    CONTENT_TYPE = "cap_content_type"  # not application/cap+xml, application/xml or text/xml
    TOO_LARGE = "cap_too_large"  # more bytes than cap_max_bytes
    NOT_XML = "cap_not_xml"  # not well-formed XML
    DOCTYPE = "cap_doctype"  # a DOCTYPE (entities, external DTDs): never in CAP, refused unread
    NOT_CAP = "cap_not_cap"  # XML, but its root is not a CAP <alert>
    NOT_1_2 = "cap_not_1_2"  # a CAP <alert> of another version (1.1, 1.0)
    SCHEMA_INVALID = "cap_schema_invalid"  # not valid against the OASIS CAP 1.2 schema; `loc` names the element
    TOO_LONG = "cap_too_long"  # a sender or identifier longer than this server keeps
    REFERENCES_INVALID = "cap_references_invalid"  # a <references> entry that is not "sender,identifier,sent"
    TIMES_INVALID = "cap_times_invalid"  # expired already, expires before it takes effect, or beyond the years 2000-2999
    REFERENCE_UNKNOWN = "cap_reference_unknown"  # a Cancel of no alert taken in here
    TOO_MANY_AREAS = "cap_too_many_areas"  # matches more areas than one announcement may target
    NO_MATCHING_AREA = "cap_no_matching_area"  # matches no configured area: kept as unmatched, nothing broadcast
    SIGNATURE_MISSING = "signature_missing"  # a source that requires a signature (XMLDSig) sent an alert without one
    SIGNATURE_INVALID = "signature_invalid"  # a signature that does not verify against the source's certificates


class CapRefused(Invalid):
    """An alert refused for `code`; nothing it asked for was done."""

    def __init__(self, code: Refusal, msg: str, *, loc: list | None = None):
        where = "/".join(str(part) for part in loc) if loc else ""
        super().__init__(f"{where}: {msg}" if where else msg, errors=[{"loc": loc or [], "msg": msg, "type": code.value}])
        self.code = code

    def reason(self) -> str:
        """The refusal as lines of text (a refused file's `.reason.txt`): the code and the same words the API answers."""
        lines = [f"{self.code.value}: {self.detail}"]
        for more in self.errors[1:]:  # a schema refusal names up to five elements
            where = "/".join(str(part) for part in more["loc"])
            lines.append(f"- {where}: {more['msg']}" if where else f"- {more['msg']}")
        return "\n".join(lines) + "\n"
