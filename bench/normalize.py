"""Normalization benchmark: how fast Mandarin notices are made speakable, beside cn2an's own transform.

Run: `.venv/bin/python bench/normalize.py [--notices N] [--repeat R]`. The baseline is what a bare
library call costs on the same text (`cn2an.transform(text, "an2cn")`, which reads numbers less well:
docs/protocol.md §4.1); the figure that matters is ours in characters per second and per notice, and the
ratio to the baseline. Percentiles are over notices of one run, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cn2an
from figures import percentile

from announcements.speech.normalize import spoken_zh

SENTENCES = [
    "请于12月5日上午9:30到村委会领取，咨询电话13800001234。",
    "2026年度医保缴费标准为每人380元，截止日期2026-12-31。",
    "明天气温-5℃至3℃，北风4~5级，降水概率60%，请注意防寒。",
    "第1、2、3组的村民请在8:00-11:30到村卫生室接种疫苗，每次约需15分钟。",
    "今年全村共种植小麦1,286亩，亩产约450公斤，比去年增长12.5%。",
    "停水时间：12月8日（周一）14:00至18:00，涉及2个村民小组、约300户。",
    "如有紧急情况请拨打110或120，村委会值班电话0371-12345678。",
    "村道限速30km/h，请驾驶员注意安全，拖拉机不得超载2吨以上。",
]


def notice(n: int, at_least: int = 300) -> str:
    """A distinct notice of at least `at_least` characters, numbers in every sentence."""
    text = f"第{n}号通知："
    i = n
    while len(text) < at_least:
        text += SENTENCES[i % len(SENTENCES)]
        i += 1
    return text


def timings(convert: Callable[[str], str], notices: list[str], repeat: int) -> list[float]:
    """Seconds per notice, the best of `repeat` passes for each (the least disturbed by the machine)."""
    best = []
    for text in notices:
        runs = []
        for _ in range(repeat):
            began = time.perf_counter()
            convert(text)
            runs.append(time.perf_counter() - began)
        best.append(min(runs))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=200, help="distinct notices of about 300 characters")
    parser.add_argument("--repeat", type=int, default=5, help="passes over each notice; the best counts")
    args = parser.parse_args()
    notices = [notice(n) for n in range(args.notices)]
    characters = sum(len(text) for text in notices)
    ours = timings(spoken_zh, notices, args.repeat)
    bare = timings(lambda text: cn2an.transform(text, "an2cn"), notices, args.repeat)
    print(f"{args.notices} notices, {characters:,} characters, best of {args.repeat} passes each")
    print(f"{'':26}{'chars/s':>12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, seconds in (("ours (spoken_zh)", ours), ("bare (cn2an.transform)", bare)):
        ms = [s * 1000 for s in seconds]
        rate = characters / sum(seconds)
        print(f"{name:26}{rate:12,.0f}{percentile(ms, 50):9.2f}{percentile(ms, 95):9.2f}{percentile(ms, 99):9.2f}")
    print(f"ours / bare time: {sum(ours) / sum(bare):.2f}x (a 300-character notice: "
          f"{percentile(ours, 50) * 1000:.2f} ms, against the seconds eSpeak NG takes to say it)")


if __name__ == "__main__":
    main()
