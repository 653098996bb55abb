"""Real speech synthesis through SpeechSynthesizer: eSpeak NG in worker processes, decoded back and measured."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from announcements.speech import SpeechFailed, SpeechResult, SpeechSynthesizer, audio
from announcements.voicing import media_name, media_url
from broadcast_server.narrator import clip_audio

ZH = "明天上午九点在村委会召开村民大会，请各户派代表参加。"
EN = "The village meeting is tomorrow at nine in the morning. Every household please send someone."
ESPEAK_RATE = 22_050
CHIME_S = audio.duration_s(audio.two_tone_chime(ESPEAK_RATE), ESPEAK_RATE)
PAUSE_S = 1.0


@pytest.fixture
async def speech(tmp_path: Path) -> AsyncIterator[SpeechSynthesizer]:
    async with SpeechSynthesizer(tmp_path / "media", pause_s=PAUSE_S) as synthesizer:
        yield synthesizer


def decoded(synthesizer: SpeechSynthesizer, name: str) -> tuple[np.ndarray, int]:
    return audio.decode((synthesizer.cache_dir / name).read_bytes())


def spoken_s(result: SpeechResult) -> float:
    """The seconds of speech in a clip: all of it but the chime and the pauses."""
    return result.duration_s - CHIME_S - PAUSE_S * result.repeat


def worker_pids() -> list[int]:
    """The speech worker processes of this test process, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"announcements.speech" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.parametrize(
    ("text", "language", "units", "seconds_per_unit"),
    [
        (ZH, "zh", sum(c.isalpha() for c in ZH), (0.12, 0.6)),  # a Mandarin syllable per character
        (EN, "en", sum(c.isalpha() for c in EN), (0.025, 0.15)),  # per letter
    ],
    ids=["mandarin", "english"],
)
async def test_announcement_is_spoken_for_as_long_as_its_text(
    speech: SpeechSynthesizer, text: str, language: str, units: int, seconds_per_unit: tuple[float, float]
) -> None:
    """The MP3 decodes to the reported duration, its speech fits the text's length, and it is not silent."""
    result = await speech.synthesize(text, language, repeat=1)
    samples, rate = decoded(speech, result.mp3_name)
    assert audio.duration_s(samples, rate) == pytest.approx(result.duration_s, abs=0.05)
    low, high = seconds_per_unit
    assert low * units <= spoken_s(result) <= high * units
    assert audio.rms(samples) > audio.amplitude(-30.0)
    after_chime = samples[round((CHIME_S + PAUSE_S) * rate) :]
    assert audio.rms(after_chime) > audio.amplitude(-30.0)


async def test_repeat_two_is_twice_the_speech(speech: SpeechSynthesizer) -> None:
    """repeat: 2 is the chime once and the speech twice, so twice repeat: 1 less one chime."""
    once = await speech.synthesize(ZH, "zh", repeat=1)
    twice = await speech.synthesize(ZH, "zh", repeat=2)
    assert (twice.repeat, once.repeat) == (2, 1)
    assert twice.mp3_name != once.mp3_name
    assert twice.duration_s == pytest.approx(2 * once.duration_s - CHIME_S, abs=0.01)
    samples, rate = decoded(speech, twice.mp3_name)
    assert audio.duration_s(samples, rate) == pytest.approx(twice.duration_s, abs=0.05)


async def test_ogg_opus_has_the_same_clip(speech: SpeechSynthesizer) -> None:
    """The Ogg Opus file is 48 kHz, as long as the MP3, and not silent."""
    result = await speech.synthesize(ZH, "zh")
    assert sf.info(speech.cache_dir / result.ogg_name).subtype == "OPUS"
    samples, rate = decoded(speech, result.ogg_name)
    assert rate == 48_000
    assert audio.duration_s(samples, rate) == pytest.approx(result.duration_s, abs=0.05)
    assert not audio.is_silent(samples)


async def test_a_clips_audio_names_its_files(speech: SpeechSynthesizer) -> None:
    """The `audio` sent for a clip: the MP3 and its Ogg Opus alternative as media URLs that lead back to the
    files in the cache, with the clip's length and repeat."""
    result = await speech.synthesize(ZH, "zh", repeat=2)
    sent = clip_audio(result)
    assert (sent.format, sent.duration_s, sent.repeat) == ("mp3", result.duration_s, 2)
    assert [(a.format, media_name(a.url)) for a in sent.alternatives] == [("ogg", result.ogg_name)]
    assert media_name(sent.url) == result.mp3_name and (speech.cache_dir / media_name(sent.url)).is_file()
    assert (speech.cache_dir / result.ogg_name).is_file()


@pytest.mark.parametrize("url", ["/media/", "/stream/ab12.mp3", "https://example.org/media/ab12.mp3", "/media/../ab12.mp3"])
def test_only_a_media_url_names_a_clip(url: str) -> None:
    """media_name undoes media_url, and names no file for any other URL."""
    assert media_name(media_url("ab12.mp3")) == "ab12.mp3"
    assert media_name(url) is None


async def test_same_announcement_is_synthesized_once(speech: SpeechSynthesizer, tmp_path: Path) -> None:
    """The second request is a cache hit with the same names, at once, also for a new synthesizer on the dir."""
    first = await speech.synthesize(EN, "en", repeat=2)
    began = time.perf_counter()
    second = await speech.synthesize(EN, "en", repeat=2)
    elapsed = time.perf_counter() - began
    assert not first.cached and second.cached
    assert (second.mp3_name, second.ogg_name, second.duration_s) == (first.mp3_name, first.ogg_name, first.duration_s)
    assert elapsed < 0.05
    async with SpeechSynthesizer(tmp_path / "media", pause_s=PAUSE_S) as restarted:
        again = await restarted.synthesize(f"  {EN}\n", "en", repeat=2)
    assert again.cached and again.mp3_name == first.mp3_name


async def test_concurrent_identical_requests_synthesize_once(speech: SpeechSynthesizer) -> None:
    """Three identical requests at once share one synthesis: one is made, two are served from it."""
    results = await asyncio.gather(*(speech.synthesize(ZH, "zh", repeat=3) for _ in range(3)))
    assert len({r.mp3_name for r in results}) == 1
    assert sorted(r.cached for r in results) == [False, True, True]


async def test_settings_are_part_of_the_cache_key(tmp_path: Path) -> None:
    """A different rate or chime is a different clip; a configured chime replaces the built-in one."""
    chime_file = tmp_path / "chime.wav"
    sf.write(chime_file, np.sin(np.arange(round(0.3 * 44_100)) * 0.05).astype(np.float32), 44_100)
    cache_dir = tmp_path / "media"
    async with SpeechSynthesizer(cache_dir) as plain:
        standard = await plain.synthesize(EN, "en")
    async with SpeechSynthesizer(cache_dir, chime=chime_file) as chimed:
        with_chime = await chimed.synthesize(EN, "en")
    async with SpeechSynthesizer(cache_dir, rate=220) as fast:
        faster = await fast.synthesize(EN, "en")
    assert len({standard.mp3_name, with_chime.mp3_name, faster.mp3_name}) == 3
    assert not with_chime.cached and not faster.cached
    assert with_chime.duration_s == pytest.approx(standard.duration_s - CHIME_S + 0.3, abs=0.01)
    assert faster.duration_s < standard.duration_s


async def test_unreadable_chime_is_refused_at_start(tmp_path: Path) -> None:
    """A chime that is not a sound file stops start() with SpeechFailed naming the file."""
    chime_file = tmp_path / "chime.wav"
    chime_file.write_text("not audio")
    with pytest.raises(SpeechFailed, match=r"the chime .*chime\.wav is not a sound file that can be read"):
        await SpeechSynthesizer(tmp_path / "media", chime=chime_file).start()


async def test_preview_is_the_mp3_of_the_text(speech: SpeechSynthesizer) -> None:
    """preview() gives the MP3 bytes of the text said once: the cached clip, decodable and not silent."""
    data = await speech.preview(EN, "en")
    result = await speech.synthesize(EN, "en", repeat=1)
    assert result.cached
    assert data == (speech.cache_dir / result.mp3_name).read_bytes()
    assert not audio.is_silent(audio.decode(data)[0])


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        (EN, "fr", "no voice for language 'fr'; speech is available for en, zh"),
        ("", "zh", "nothing to speak: the text has no letters or digits"),
        ("  。，！……  ", "zh", "nothing to speak: the text has no letters or digits"),
        # Circled digits are digits to Python, but eSpeak NG says nothing for them: each attempt is silent.
        ("①②③", "zh", "eSpeak NG produced only silence for the text after 3 attempts"),
    ],
    ids=["unknown-language", "empty", "punctuation-only", "unspeakable"],
)
async def test_failed_synthesis_says_why(speech: SpeechSynthesizer, text: str, language: str, reason: str) -> None:
    """Text that cannot be spoken raises SpeechFailed with the reason, and leaves no media behind."""
    with pytest.raises(SpeechFailed) as failure:
        await speech.synthesize(text, language)
    assert str(failure.value) == reason
    assert not [p for p in speech.cache_dir.iterdir() if not p.name.startswith(".")]


async def test_repeat_below_one_is_refused(speech: SpeechSynthesizer) -> None:
    """repeat must be at least 1: anything else is a caller's bug, a ValueError."""
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        await speech.synthesize(ZH, "zh", repeat=0)


async def test_job_past_its_timeout_is_killed_and_retried(tmp_path: Path) -> None:
    """A job that does not finish in time has its worker killed, is retried, then fails saying so."""
    async with SpeechSynthesizer(tmp_path, timeout_s=0.005, retries=1) as speech:
        with pytest.raises(SpeechFailed, match=r"did not finish within 0.005 s .* after 2 attempts"):
            await speech.synthesize(ZH * 4, "zh")
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")
async def test_dead_worker_is_replaced(speech: SpeechSynthesizer) -> None:
    """When the worker process dies, the next job gets a fresh one and succeeds."""
    (pid,) = worker_pids()
    os.kill(pid, signal.SIGKILL)
    result = await speech.synthesize(EN, "en")
    assert not result.cached and result.duration_s > CHIME_S
    assert worker_pids() != [pid]
