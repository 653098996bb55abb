"""Watched CAP sources (setting `cap_sources`): a directory another system drops alerts into, or an Atom/RSS feed.

Each source is polled by a `SourceWatcher` of its own, whose pass never raises: what went wrong is kept in its
status (GET /api/v1/cap/sources) and logged, and the next poll waits longer (back-off). What an alert does is
decided where a POSTed one's is: `take` (broadcast_server/api/cap.py) reads it, checks its signature where the
source requires one, and takes it in; a refusal (CapRefused) is that alert's, never the source's.

A directory: a file is taken once it is complete (no dot-file, `*.tmp` or `*.part`; a whole XML document, or
untouched for a second) and claimed by renaming it into `processing/`, an atomic step, so that of several replicas
watching one shared directory only one takes each file; then it goes to `done/`, or to `refused/` beside
`<name>.reason.txt`.

A feed: fetched with conditional requests (ETag, Last-Modified), so an unchanged feed costs a 304 and nothing
more. Each entry's alert comes from a link typed as CAP/XML (alternate or enclosure), else from inline content
that is an alert, else from the entry's own link. A link taken once is not fetched again (a bounded memory; the
database's unique key on the alert is the guarantee). The feed's validators are kept only after a pass in which
every entry could be read, so that an entry missed for a network error is tried again.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

import aiohttp
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from yarl import URL

from announcements.areas import normalize_area
from announcements.cap.alert import MEDIA_TYPES, parse_xml
from announcements.cap.export import ATOM_NAMESPACE
from announcements.cap.intake import Taken
from announcements.cap.refusals import CapRefused
from announcements.cap.signature import Certificates, required_trust
from announcements.models import Role
from announcements.tokens import Principal
from broadcast_server.redaction import redact

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = {"directory": 5.0, "feed": 60.0}
MAX_BACKOFF_S = 600.0  # after failures, a source is polled at least this often (or at its interval, if longer)
NAME_MAX_CHARS = 24  # a source posts as "cap:<name>", kept where a token's id is (32 characters)

# A directory: what is not yet complete, and how long a claim may stay unfinished before it is taken back.
QUIET_S = 1.0
SKIPPED_SUFFIXES = (".tmp", ".part")
STALE_CLAIM_S = 300.0
PROCESSING, DONE, REFUSED = "processing", "done", "refused"
REASON_SUFFIX = ".reason.txt"

# A feed.
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
MAX_REDIRECTS = 5
MAX_FEED_BYTES = 8 * 1024 * 1024
_TRUST = {"switch": "require_signature", "files": "certificates"}  # a source's settings, as its errors name them
REMEMBERED_LINKS = 2000  # per feed: more than any feed lists at once
_CHUNK = 64 * 1024

Take = Callable[[bytes], Awaitable[Taken]]  # raises CapRefused
TakeOne = Callable[[bytes, str], Awaitable[Taken | CapRefused]]  # a poller's: counted, logged, a refusal handed back


class CapSource(BaseModel):
    """One entry of `cap_sources`: where alerts come from, the scope they are posted in, and whom to trust."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX_CHARS)
    kind: Literal["directory", "feed"]
    path: Path | None = None  # a directory
    url: str | None = None  # a feed: http or https, credentials in it allowed (never logged)
    area: str = "/"
    interval_s: float | None = Field(default=None, gt=0)  # unset: 5 s for a directory, 60 s for a feed
    require_signature: bool = False
    certificates: list[Path] = Field(default_factory=list)  # PEM files: the signer's own certificates

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value != value.strip() or any(c in value for c in "/\\\n\t"):
            raise ValueError(f"a source's name has no slashes, tabs, line breaks or spaces around it: {value!r}")
        return value

    @field_validator("area")
    @classmethod
    def _area_path(cls, value: str) -> str:
        return normalize_area(value)

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return Path(os.path.abspath(value.expanduser())) if value is not None else None

    @model_validator(mode="after")
    def _complete(self) -> CapSource:
        def wrong(problem: str) -> ValueError:
            return ValueError(f"CAP source {self.name!r}: {problem}")

        if self.kind == "directory" and (self.path is None or self.url is not None):
            raise wrong("a directory source gives `path` (the folder alerts are dropped into) and no `url`")
        if self.kind == "feed":
            if self.url is None or self.path is not None:
                raise wrong("a feed source gives `url` (the Atom or RSS feed) and no `path`")
            url = URL(self.url)
            if url.scheme not in ("http", "https") or not url.host:
                raise wrong(f"the feed's url must be http:// or https:// with a host, not {shown(self.url)!r}")
        try:
            required_trust(self.require_signature, self.certificates, **_TRUST)
        except ValueError as exc:
            raise wrong(str(exc)) from None
        return self

    @property
    def interval(self) -> float:
        return self.interval_s if self.interval_s is not None else DEFAULT_INTERVAL_S[self.kind]

    @cached_property
    def trust(self) -> Certificates | None:
        """The certificates an alert's signature must verify against; None when no signature is required."""
        return required_trust(self.require_signature, self.certificates, **_TRUST)

    @property
    def principal(self) -> Principal:
        """Whom the source posts as: a feed in its area, named in what it writes as `cap:<name>`."""
        return Principal(token_id=f"cap:{self.name}", role=Role.FEED, area=self.area, name=f"CAP source {self.name}", kind="source")

    @property
    def location(self) -> str:
        """Where it is, fit to show and log: a feed's url without its credentials."""
        return str(self.path) if self.kind == "directory" else shown(self.url or "")


def check_source_names(sources: list[CapSource]) -> list[CapSource]:
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ValueError(f"two CAP sources are named {source.name!r}: each needs a name of its own")
        seen.add(source.name)
    return sources


def shown(url: str | URL) -> str:
    """`url` fit for a log or a status: without user and password, and secret query parameters redacted."""
    parsed = URL(url) if isinstance(url, str) else url
    return redact(str(parsed.with_user(None)) if parsed.is_absolute() else str(parsed))


class SourceCounts(BaseModel):
    taken: int = Field(default=0, description="alerts taken in: announcements made, revised or retracted, or the alert kept")
    refused: int = Field(default=0, description="alerts refused (each logged with its reason; a directory's are in refused/)")
    repeated: int = Field(default=0, description="alerts taken in before: nothing was done")

    def add(self, more: SourceCounts) -> None:
        self.taken += more.taken
        self.refused += more.refused
        self.repeated += more.repeated


class SourceStatus(BaseModel):
    """A watched source as this replica sees it (each replica polls every source)."""

    name: str
    kind: Literal["directory", "feed"]
    location: str = Field(description="the directory, or the feed's url without credentials")
    area: str = Field(description="the scope its alerts are posted in")
    interval_s: float
    require_signature: bool
    last_poll_at: datetime | None = Field(default=None, description="when the last poll started; null before the first")
    last_outcome: SourceCounts | None = Field(default=None, description="what the last poll took in; null before the first")
    since_start: SourceCounts = Field(
        default_factory=SourceCounts,
        description="what every poll since this replica started took in: a refusal stays counted after the next, empty, poll",
    )
    failures: int = Field(default=0, description="polls failed in a row: 0 when the last one worked")
    last_error: str | None = Field(default=None, description="what went wrong the last time a poll failed")
    last_error_at: datetime | None = None


class SourceError(Exception):
    """A poll that could not be done (a directory missing, a feed unreachable): the source's fault, not an alert's."""


class SourceWatcher:
    """Polls one source: `one_pass()` never raises, keeps the status, and says when to poll next."""

    def __init__(self, source: CapSource, poller: DirectoryPoller | FeedPoller, *, take: Take, clock: Callable[[], datetime]):
        self.source = source
        self._poller = poller
        self._take = take
        self._clock = clock
        self.status = SourceStatus(
            name=source.name, kind=source.kind, location=source.location, area=source.area, interval_s=source.interval,
            require_signature=source.require_signature,
        )

    async def one_pass(self) -> float:
        status = self.status
        status.last_poll_at = self._clock()
        counts = SourceCounts()
        try:
            await self._poller.poll(lambda data, what: self._take_one(data, what, counts))
        except Exception as exc:  # whatever it is, the next poll tries again, later
            status.failures += 1
            delay = min(self.source.interval * 2**status.failures, max(self.source.interval, MAX_BACKOFF_S))
            status.last_error = self._poller.scrub(str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}")
            status.last_error_at = self._clock()
            log.warning("CAP source %s (%s): %s; polling again in %.3g s", self.source.name, self.source.location, status.last_error,
                        delay, exc_info=not isinstance(exc, SourceError))
        else:
            status.failures = 0
            delay = self.source.interval
        status.last_outcome = counts
        status.since_start.add(counts)
        return delay

    async def _take_one(self, data: bytes, what: str, counts: SourceCounts) -> Taken | CapRefused:
        """Take one alert document (`what`: its file or link, for the log); a refusal is logged and handed back."""
        try:
            taken = await self._take(data)
        except CapRefused as refused:
            counts.refused += 1
            log.warning("CAP source %s: %s refused: %s", self.source.name, what, refused.reason().rstrip())
            return refused
        if taken.duplicate:
            counts.repeated += 1
        else:
            counts.taken += 1
            log.info("CAP source %s: %s taken in: %s %s (%s)", self.source.name, what, taken.alert.msg_type, taken.alert.identifier,
                     taken.alert.outcome)
        return taken


def watcher_for(source: CapSource, *, take: Take, clock: Callable[[], datetime], http: aiohttp.ClientSession,
                max_bytes: int) -> SourceWatcher:
    poller: DirectoryPoller | FeedPoller
    if source.kind == "directory":
        poller = DirectoryPoller(source, max_bytes=max_bytes)
    else:
        poller = FeedPoller(source, http=http, max_bytes=max_bytes)
    return SourceWatcher(source, poller, take=take, clock=clock)


class DirectoryPoller:
    def __init__(self, source: CapSource, *, max_bytes: int):
        assert source.path is not None
        self.folder = source.path
        self._name = source.name
        self._max_bytes = max_bytes

    def scrub(self, text: str) -> str:
        return redact(text)

    async def poll(self, take: TakeOne) -> None:
        for name in await asyncio.to_thread(self._ready):
            claimed = await asyncio.to_thread(self._claim, name)
            if claimed is not None:
                await self._take_file(claimed, take)

    def _ready(self) -> list[str]:
        """The complete files waiting, oldest first; the subfolders made, and claims left unfinished taken back."""
        if not self.folder.is_dir():
            raise SourceError(f"the directory {self.folder} does not exist, or is not a directory")
        for sub in (PROCESSING, DONE, REFUSED):
            (self.folder / sub).mkdir(exist_ok=True)
        now = time.time()
        self._take_back_stale_claims(now)
        waiting = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name.endswith(SKIPPED_SUFFIXES) or not entry.is_file(follow_symlinks=False):
                    continue
                modified = entry.stat(follow_symlinks=False).st_mtime
                if now - modified < QUIET_S and not self._whole(entry.path):
                    continue  # still being written, perhaps: the next poll
                waiting.append((modified, entry.name))
        return [name for _, name in sorted(waiting)]

    def _whole(self, path: str) -> bool:
        """Whether a file changed within QUIET_S is a whole XML document already (an alert renamed in when complete,
        as systems should): a warning is then taken at once. A file still being written is never well-formed: its
        root element is not closed yet."""
        try:
            parse_xml(_read_at_most(Path(path), self._max_bytes))
        except (OSError, CapRefused):
            return False
        return True

    def _take_back_stale_claims(self, now: float) -> None:
        """A claim still in processing/ long after it was made was left by a replica that stopped mid-way: put it back."""
        with os.scandir(self.folder / PROCESSING) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_ctime > STALE_CLAIM_S:
                    try:
                        os.rename(entry.path, self.folder / entry.name)
                    except OSError:
                        continue  # another replica took it back first
                    log.warning("CAP source %s: %s was claimed more than %.0f s ago and never finished; it is taken again",
                                self._name, entry.name, STALE_CLAIM_S)

    def _claim(self, name: str) -> Path | None:
        """The file renamed into processing/ (one atomic step), or None when another replica claimed it first."""
        claimed = self.folder / PROCESSING / name
        if claimed.exists():
            return None  # a file of that name is being taken right now: the next poll
        try:
            os.rename(self.folder / name, claimed)
        except FileNotFoundError:
            return None
        return claimed

    async def _take_file(self, claimed: Path, take: TakeOne) -> None:
        try:
            data = await asyncio.to_thread(_read_at_most, claimed, self._max_bytes + 1)  # one byte over: refused as too large
            result = await take(data, claimed.name)
        except BaseException:
            await asyncio.to_thread(os.rename, claimed, self.folder / claimed.name)  # not taken: the next poll tries again
            raise
        if isinstance(result, CapRefused):
            await asyncio.to_thread(_file_away, claimed, self.folder / REFUSED, result.reason())
        else:
            await asyncio.to_thread(_file_away, claimed, self.folder / DONE, None)


def _read_at_most(path: Path, limit: int) -> bytes:
    with path.open("rb") as file:
        return file.read(limit)


def _free_name(folder: Path, name: str) -> str:
    """`name`, or `name` with -1, -2... before its suffix when a file of that name is already in `folder`."""
    stem, dot, suffix = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    candidate, n = name, 0
    while (folder / candidate).exists() or (folder / (candidate + REASON_SUFFIX)).exists():
        n += 1
        candidate = f"{stem}-{n}{dot}{suffix}"
    return candidate


def _file_away(claimed: Path, folder: Path, reason: str | None) -> None:
    """Move a claimed file to done/ or refused/; a refused one's reason is written beside it first."""
    name = _free_name(folder, claimed.name)
    if reason is not None:
        (folder / (name + REASON_SUFFIX)).write_text(reason, encoding="utf-8")
    os.rename(claimed, folder / name)


@dataclass(frozen=True)
class FeedEntry:
    key: str  # what is remembered: the link, or the inline alert's digest
    url: URL | None  # to fetch the alert from
    data: bytes | None  # the alert, inline
    when: datetime | None  # the entry's date, to take entries in order


class FeedPoller:
    def __init__(self, source: CapSource, *, http: aiohttp.ClientSession, max_bytes: int):
        url = URL(source.url or "")
        self._url = url.with_user(None)
        # Basic credentials from the url, sent as a header (which aiohttp drops on a redirect to another origin)
        basic = base64.b64encode(f"{url.user or ''}:{url.password or ''}".encode()).decode()
        self._auth = {"Authorization": f"Basic {basic}"} if url.user or url.password else {}
        self._secrets = [s for s in (url.password, url.raw_password) if s]
        self._http = http
        self._max_bytes = max_bytes
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._remembered: OrderedDict[str, None] = OrderedDict()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return redact(text)

    async def poll(self, take: TakeOne) -> None:
        headers = {}
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        status, body, answer_headers = await self._get(self._url, headers=headers, limit=MAX_FEED_BYTES, whole=True)
        if status == 304:
            return  # nothing changed
        missed: list[str] = []
        for entry in feed_entries(body, base=self._url):
            if entry.key in self._remembered:
                self._remembered.move_to_end(entry.key)
                continue
            data = entry.data
            if entry.url is not None:
                try:
                    _, data, _ = await self._get(entry.url, headers={}, limit=self._max_bytes, whole=False)
                except SourceError as exc:
                    missed.append(str(exc))
                    continue
            assert data is not None
            await take(data, shown(entry.url) if entry.url else "an inline alert")
            self._remember(entry.key)
        if missed:
            raise SourceError(f"{len(missed)} alert(s) could not be fetched, tried again at the next poll: {missed[0]}")
        self._etag, self._last_modified = answer_headers.get("ETag"), answer_headers.get("Last-Modified")

    def _remember(self, key: str) -> None:
        self._remembered[key] = None
        while len(self._remembered) > REMEMBERED_LINKS:
            self._remembered.popitem(last=False)

    async def _get(self, url: URL, *, headers: dict, limit: int, whole: bool) -> tuple[int, bytes, Mapping[str, str]]:
        """The status (200, or 304 to a conditional request), body and headers. A body over `limit` bytes is a SourceError
        when `whole`, else cut at one byte over (an alert refused as too large, as a POSTed one is)."""
        conditional = bool(headers)
        if url.origin() == self._url.origin():  # credentials go to the feed's own server only
            headers = {**headers, **self._auth}
        try:
            async with self._http.get(url, headers=headers, timeout=FETCH_TIMEOUT, max_redirects=MAX_REDIRECTS) as resp:
                if resp.status == 304 and conditional:
                    return 304, b"", resp.headers
                if resp.status != 200:
                    raise SourceError(f"{shown(url)} answered HTTP {resp.status} {resp.reason or ''}".rstrip())
                data = await read_at_most(resp.content, limit)
                if whole and len(data) > limit:
                    raise SourceError(f"{shown(url)} is larger than {limit} bytes")
                return 200, data, resp.headers
        except aiohttp.TooManyRedirects:
            raise SourceError(f"{shown(url)} redirects more than {MAX_REDIRECTS} times") from None
        except TimeoutError:
            raise SourceError(f"{shown(url)} did not answer within {FETCH_TIMEOUT.total:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise SourceError(f"{shown(url)} could not be reached: {type(exc).__name__}: {exc}") from None


async def read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """A body read up to one byte over `limit` and no further: that byte says it is too large, and nothing more of a
    huge body is held (a POSTed alert, a feed, an alert a feed links to)."""
    data = bytearray()
    async for chunk in content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            break
    return bytes(data[: limit + 1])


def feed_entries(data: bytes, *, base: URL) -> list[FeedEntry]:
    """The CAP alerts an Atom or RSS 2.0 feed lists, oldest first (by the entries' dates when all have one, else the
    reverse of the feed's order, newest first as feeds are written): an Alert is taken before its Update."""
    try:
        root = parse_xml(data)
    except CapRefused as refused:
        raise SourceError(f"the feed is not readable XML: {refused.detail}") from None
    name = etree.QName(root)
    if (name.namespace, name.localname) == (ATOM_NAMESPACE, "feed"):
        entries = [_atom_entry(e, base) for e in root.findall(f"{{{ATOM_NAMESPACE}}}entry")]
    elif (name.namespace, name.localname) == (None, "rss"):
        entries = [_rss_item(i, base) for i in root.findall("channel/item")]
    else:
        raise SourceError(f"not an Atom or RSS feed: its root element is {name.text}")
    found = [e for e in entries if e is not None][::-1]
    if all(e.when is not None for e in found):
        found.sort(key=lambda e: e.when)
    return found


def _media_type(element: etree._Element) -> str:
    return (element.get("type") or "").split(";")[0].strip().lower()


def _inline_alert(parent: etree._Element) -> bytes | None:
    """The first child element named `alert` (of any CAP version: another version is refused as such, not skipped)."""
    for child in parent:
        if isinstance(child.tag, str) and etree.QName(child).localname == "alert":
            return etree.tostring(child, encoding="utf-8")
    return None


def _entry(*, base: URL, typed: str | None, inline: bytes | None, plain: str | None, when: datetime | None) -> FeedEntry | None:
    """The first of: a link typed CAP/XML, the inline alert, the entry's own link (only http and https are followed)."""
    for href, data in ((typed, None), (None, inline), (plain, None)):
        if data is not None:
            return FeedEntry(key="sha256:" + hashlib.sha256(data).hexdigest(), url=None, data=data, when=when)
        if href:
            url = base.join(URL(href.strip()))
            if url.scheme in ("http", "https"):
                return FeedEntry(key=str(url), url=url, data=None, when=when)
    return None


def _atom_entry(entry: etree._Element, base: URL) -> FeedEntry | None:
    links = entry.findall(f"{{{ATOM_NAMESPACE}}}link")
    typed = next((link.get("href") for link in links if link.get("rel", "alternate") in ("alternate", "enclosure")
                  and _media_type(link) in MEDIA_TYPES), None)
    content = entry.find(f"{{{ATOM_NAMESPACE}}}content")
    inline = None
    if content is not None:
        if typed is None and content.get("src") and _media_type(content) in MEDIA_TYPES:
            typed = content.get("src")
        inline = _inline_alert(content)
    plain = next((link.get("href") for link in links if link.get("rel", "alternate") == "alternate"), None)
    when = _date(entry.findtext(f"{{{ATOM_NAMESPACE}}}updated") or entry.findtext(f"{{{ATOM_NAMESPACE}}}published"), datetime.fromisoformat)
    return _entry(base=base, typed=typed, inline=inline, plain=plain, when=when)


def _rss_item(item: etree._Element, base: URL) -> FeedEntry | None:
    typed = next((e.get("url") for e in item.findall("enclosure") if _media_type(e) in MEDIA_TYPES), None)
    when = _date(item.findtext("pubDate"), email.utils.parsedate_to_datetime)
    return _entry(base=base, typed=typed, inline=_inline_alert(item), plain=item.findtext("link"), when=when)


def _date(text: str | None, parse: Callable[[str], datetime]) -> datetime | None:
    try:
        when = parse(text.strip()) if text else None
    except (ValueError, TypeError):
        return None
    return when if when is None or when.tzinfo is not None else None
