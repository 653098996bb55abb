"""`village-broadcast speech text`: the spoken form of a notice, from the shell, with no database or server."""

from tests.broadcast_server.test_cli import run_cli


def test_speech_text_prints_the_spoken_form_last(tmp_path):
    """A negative temperature is said 零下 with its unit in words, on the last line, with no data directory."""
    result = run_cli("speech", "text", "--language", "zh", "气温-5℃", env_settings={"VB_DATA_DIR": str(tmp_path / "none")})
    assert result.stdout.strip().splitlines()[-1] == "气温零下五摄氏度"
    assert not (tmp_path / "none").exists()


def test_speech_text_leaves_english_as_written():
    """English is for eSpeak NG's English voice, which reads numbers itself."""
    result = run_cli("speech", "text", "--language", "en", "Meeting at 9:30")
    assert result.stdout.strip().splitlines()[-1] == "Meeting at 9:30"
