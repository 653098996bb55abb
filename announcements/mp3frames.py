"""MPEG audio (MP3) frames: cutting clips at frame boundaries so they can be joined into one live stream.

A stream made of whole frames can be joined by a listener at any frame, and clips encoded separately
can follow each other. The Xing/Info header frame of each file (it states that file's length) and
ID3 tags are left out, since in a continuous stream they would tell a decoder to stop early.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_BITRATES_KBPS = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 Layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5 Layer III
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    sample_rate: int
    samples: int

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate


def _header(data: bytes, at: int) -> tuple[int, int, int] | None:
    """(frame length, sample rate, samples per frame) of a Layer III frame header at `at`, or None."""
    if at + 4 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version = (data[at + 1] >> 3) & 3
    layer = (data[at + 1] >> 1) & 3
    bitrate_index = data[at + 2] >> 4
    rate_index = (data[at + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES_KBPS[1 if mpeg1 else 2][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (data[at + 2] >> 1) & 1
    length = (144 if mpeg1 else 72) * bitrate // sample_rate + padding
    return length, sample_rate, 1152 if mpeg1 else 576


def _skip_id3(data: bytes) -> int:
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return 10 + size


def audio_frames(data: bytes) -> Iterator[Frame]:
    """The audio frames of an MP3 file, without tags and without the Xing/Info header frame."""
    at = _skip_id3(data)
    first = True
    while at < len(data):
        header = _header(data, at)
        if header is None:
            at += 1  # resynchronize on the next frame header
            continue
        length, sample_rate, samples = header
        frame = data[at : at + length]
        at += length
        if len(frame) < length:
            return  # a truncated last frame
        is_info = first and (b"Xing" in frame[:64] or b"Info" in frame[:64])
        first = False
        if not is_info:
            yield Frame(frame, sample_rate, samples)
