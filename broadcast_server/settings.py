"""Settings: defaults here, then a TOML file, then `VB_*` environment variables, then command-line flags.

Every setting is documented in config/village.toml. No settings object exists at import time: each
app (and each test) builds its own.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from announcements.cap.mapping import MappingRules, PriorityRule, PublishFrom, check_priority_rules, default_priority_rules
from announcements.cap.signature import Certificates, required_trust
from announcements.database import sqlite_url
from announcements.deadlines import Deadline, default_deadlines, merge_deadlines
from announcements.protocol import Priority
from announcements.quiet_hours import QuietHours
from broadcast_server.cap_sources import CapSource, check_source_names

_POST_TRUST = {"switch": "cap_post_require_signature", "files": "cap_post_certificates"}  # POST /cap's, as errors name them


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VB_", extra="forbid")

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    database_schema: str | None = None
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    default_lifetime_hours: float = Field(default=24.0, gt=0)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0)

    hello_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_s: float = Field(default=30.0, gt=0)
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    send_buffer_bytes: int = Field(default=256 * 1024, ge=4096)
    replay_memory_events: int = Field(default=10_000, ge=0)
    event_poll_s: float = Field(default=1.0, gt=0)
    delivery_flush_s: float = Field(default=0.5, gt=0)
    presence_beat_s: float = Field(default=10.0, gt=0)  # a replica's heartbeat; 3 missed: its screens count offline

    # the request log (villagers' replies)
    reply_max_chars: int = Field(default=1000, ge=1, le=1000)
    reply_rate_per_minute: int = Field(default=10, ge=0)  # per screen; 0: no limit
    receipt_rate_per_minute: int = Field(default=600, ge=0)  # per screen; 0: no limit
    follow_up_days: float = Field(default=7.0, gt=0)
    close_without_follow_up: bool = True
    request_sweep_s: float = Field(default=300.0, gt=0)
    request_deadlines: dict[str, Deadline] = Field(default_factory=default_deadlines)
    open311_public_read: bool = False

    # people signing in to the console (broadcast_server/sessions.py)
    session_days: float = Field(default=7.0, gt=0, le=90)
    signin_failures_per_name: int = Field(default=5, ge=1)
    signin_failures_per_address: int = Field(default=20, ge=1)
    signin_window_minutes: float = Field(default=15.0, gt=0)
    # peers (a reverse proxy: addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: list[str] = Field(default_factory=list)

    # how often an open console asks for new requests (GET /requests/summary answers it as `poll_s`)
    console_poll_s: float = Field(default=20.0, ge=1, le=600)
    # the console flags a screen not seen for longer than this (GET /screens `offline_alert`)
    screen_offline_alert_minutes: float = Field(default=30.0, gt=0)

    # CAP 1.2 alerts in (POST /cap): how an alert becomes announcements (announcements/cap/mapping.py)
    cap_max_bytes: int = Field(default=512 * 1024, ge=1024)
    cap_languages: list[str] = Field(default_factory=lambda: ["zh-CN", "zh"])
    cap_geocode_names: list[str] = Field(default_factory=lambda: ["GB/T 2260", "GB2260", "行政区划代码"])
    cap_match_area_names: bool = True
    cap_priority_rules: list[PriorityRule] = Field(default_factory=default_priority_rules)
    cap_publish_from: PublishFrom = "effective"
    # where alerts come from besides POST /cap: watched directories and Atom/RSS feeds (broadcast_server/cap_sources.py)
    cap_sources: list[CapSource] = Field(default_factory=list)
    # POST /cap takes only alerts signed (XMLDSig) with one of these certificates (PEM files), when required
    cap_post_require_signature: bool = False
    cap_post_certificates: list[Path] = Field(default_factory=list, validate_default=True)

    @field_validator("cap_sources")
    @classmethod
    def _sources_named_apart(cls, sources: list[CapSource]) -> list[CapSource]:
        return check_source_names(sources)

    @field_validator("cap_post_certificates")
    @classmethod
    def _post_certificates(cls, paths: list[Path], info: ValidationInfo) -> list[Path]:
        required_trust(info.data.get("cap_post_require_signature", False), paths, **_POST_TRUST)
        return paths

    @cached_property
    def cap_post_trust(self) -> Certificates | None:
        """The certificates a POSTed alert's signature must verify against; None when none is required."""
        return required_trust(self.cap_post_require_signature, self.cap_post_certificates, **_POST_TRUST)

    @field_validator("cap_priority_rules")
    @classmethod
    def _every_alert_has_a_priority(cls, rules: list[PriorityRule]) -> list[PriorityRule]:
        return check_priority_rules(rules)

    @property
    def cap_mapping(self) -> MappingRules:
        return MappingRules(
            languages=tuple(self.cap_languages), geocode_names=tuple(self.cap_geocode_names), match_area_names=self.cap_match_area_names,
            priority_rules=tuple(self.cap_priority_rules), publish_from=self.cap_publish_from,
        )
    # a device that has not played a live emergency this long after it went live is listed as overdue
    # (GET /deliveries/overdue): someone should go there
    emergency_play_deadline_s: float = Field(default=60.0, gt=0)

    # CAP 1.2 out (announcements/cap/export.py): who the alerts say sent them, and which priorities the public
    # feed GET /cap/alerts.atom lists (an empty list: none)
    cap_export_sender: str = Field(default="village-broadcast.invalid", min_length=1, max_length=200)
    cap_export_sender_name: str | None = Field(default=None, min_length=1, max_length=200)
    cap_export_priorities: list[Priority] = Field(default_factory=lambda: [Priority.EMERGENCY])

    @field_validator("cap_export_sender")
    @classmethod
    def _cap_sender(cls, value: str) -> str:
        if any(c.isspace() or c in ",<&" for c in value):
            raise ValueError("a CAP sender has no spaces, commas, '<' or '&': write the deployment's domain, e.g. hongqi.example.cn")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r} (write 127.0.0.1 or 10.0.0.0/24)") from None
        return value

    @field_validator("request_deadlines")
    @classmethod
    def _all_categories(cls, given: dict[str, Deadline]) -> dict[str, Deadline]:
        return merge_deadlines(given)

    speech_enabled: bool = True
    speech_rate: int = Field(default=170, ge=80, le=450)
    speech_volume: float = Field(default=1.0, gt=0, le=1)
    speech_chime: Path | None = None
    speech_pause_s: float = Field(default=1.0, ge=0, le=10)
    speech_workers: int = Field(default=1, ge=1, le=8)
    speech_timeout_s: float = Field(default=60.0, gt=0)
    speech_retries: int = Field(default=2, ge=0, le=5)
    media_public: bool = True
    # where media files live: "database" keeps each one's bytes in the database too, with every replica's media dir
    # as its cache (announcements/mediastore.py); "disk" in the media dir alone (SQLite: one process; or a media dir
    # on storage every replica mounts); "auto" is "database" on PostgreSQL and "disk" on SQLite
    media_store: Literal["auto", "database", "disk"] = "auto"
    stream_max_listeners_per_area: int = Field(default=50, ge=1)
    stream_max_listeners: int = Field(default=500, ge=1)

    timezone: str = "Asia/Shanghai"
    quiet_hours: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name like Asia/Shanghai)") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _valid_quiet_hours(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # a field validator (not a model one), so that an error names quiet_hours and where it was set
        if "timezone" in info.data:
            QuietHours(value, info.data["timezone"])  # raises ValueError naming the bad span
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Relative to the current folder, made absolute once: the server and every command mean the same folder."""
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("not a database URL this server uses: write postgresql+asyncpg://user@host:5432/name")
        return value

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def media_in_database(self) -> bool:
        """Whether media files are kept in the database too (`media_store`)."""
        postgres = self.database_url is not None and self.database_url.startswith("postgresql")
        return self.media_store == "database" or (self.media_store == "auto" and postgres)

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides) -> Settings:
    """Settings from an optional TOML file, the environment and explicit overrides (flags), in rising precedence."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file {config_file} does not exist")

    class FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    return FromFile(**{k: v for k, v in overrides.items() if v is not None})


class SettingsError(Exception):
    """Settings that cannot be used, worded for the person who set them: which setting, and where it was set."""


def load_settings_for_command(config_file: Path | None = None, **flags) -> Settings:
    """`load_settings` for a command: an error names each bad setting and its source (flag, VB_* variable or file)."""
    try:
        return load_settings(config_file, **flags)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"the config file {os.path.abspath(config_file)} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"setting {_where(err['loc'])} ({_source(str(err['loc'][0]), config_file, flags)}): {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors(include_url=False)
        )  # never the value itself: it may be a database URL with its password
        raise SettingsError(problems) from None


def _where(loc: tuple) -> str:
    """A setting and the part of it that is wrong: cap_sources[1].url."""
    return str(loc[0]) + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])


def _source(name: str, config_file: Path | None, flags: dict) -> str:
    """Where a setting's value came from, in the order they override each other."""
    if flags.get(name) is not None:
        return f"the --{name.replace('_', '-')} flag"
    variable = f"VB_{name.upper()}"
    if any(key.upper() == variable for key in os.environ):
        return f"environment variable {variable}"
    if config_file is not None:
        return f"config file {os.path.abspath(config_file)}"
    return "its default"
