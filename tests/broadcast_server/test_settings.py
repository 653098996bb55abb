"""Settings: every one documented in both example files, and the order of precedence."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from broadcast_server.settings import Settings, load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("example", ["village.toml", "county.toml"])
def test_every_setting_is_documented_and_the_example_loads(example):
    """Each example file names every setting (set or commented out) and loads as it stands."""
    text = (CONFIG / example).read_text()
    missing = [name for name in Settings.model_fields if name not in text]
    assert not missing, f"{example} does not document: {missing}"
    load_settings(CONFIG / example)


def test_environment_beats_file_and_flags_beat_environment(tmp_path, monkeypatch):
    """A TOML value is overridden by VB_* from the environment, which a command-line flag overrides."""
    config = tmp_path / "v.toml"
    config.write_text('port = 9000\nlog_level = "DEBUG"\nhello_timeout_s = 3\n')
    monkeypatch.setenv("VB_PORT", "9100")
    monkeypatch.setenv("VB_LOG_LEVEL", "WARNING")
    settings = load_settings(config, port=9200)
    assert (settings.port, settings.log_level, settings.hello_timeout_s) == (9200, "WARNING", 3)


@pytest.mark.parametrize(
    "field, value, words",
    [("port", 70000, "port"), ("timezone", "Mars/Olympus", "time zone"), ("quiet_hours", {"/": "late"}, "quiet hours"),
     ("trusted_proxies", ["nginx"], "not an IP address or network")],
)
def test_bad_settings_name_the_problem(field, value, words):
    """An impossible setting is refused with a message naming it."""
    with pytest.raises(ValidationError, match=words):
        load_settings(None, **{field: value})


def test_unknown_setting_in_file_is_refused(tmp_path):
    """A misspelt setting in the file is an error, not silently ignored."""
    config = tmp_path / "v.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)
