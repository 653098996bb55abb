"""Speech benchmark: synthesis time, cache-hit time, and event-loop lag while synthesizing.

Run: `.venv/bin/python bench/speech.py [--runs N] [--workers N ...]`. Real eSpeak NG,
a fresh temporary cache each time; figures are percentiles of one run, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from figures import percentile

from announcements.speech import SpeechSynthesizer

SENTENCES = [
    "明天上午九点在村委会召开村民大会，请各户派代表参加。",
    "今年的医保缴费将于本月底截止，请还未缴费的村民尽快到村委会办理。",
    "近期天气干燥，请大家注意防火，不要在山林附近焚烧秸秆。",
    "本周六上午县医院专家到村卫生室义诊，欢迎老人和孩子前来检查。",
    "自来水管道维修，明天下午两点到六点停水，请提前做好储水准备。",
    "村里新建的文化广场已经完工，欢迎大家晚饭后来跳舞健身。",
]


def hanzi(text: str) -> int:
    return sum("\u4e00" <= c <= "\u9fff" for c in text)


def announcement(n: int, at_least: int = 100) -> str:
    """A distinct Chinese announcement of at least `at_least` characters (distinct, so never a cache hit)."""
    text = f"第{n}号通知。"
    i = n
    while hanzi(text) < at_least:
        text += SENTENCES[i % len(SENTENCES)]
        i += 1
    return text


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await call()
    return time.perf_counter() - began


async def loop_lag_during(work: Awaitable[object]) -> tuple[list[float], list[float], float]:
    """While `work` runs: how late each 10 ms tick of a ticker was, the CPU time this thread spent
    during each tick (lateness with little CPU is the OS giving the core to another process, not
    the loop being blocked), and how long the work took."""
    lags: list[float] = []
    cpu: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            began, began_cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.010)
            lags.append(time.perf_counter() - began - 0.010)
            cpu.append(time.thread_time() - began_cpu)

    tick = asyncio.create_task(ticker())
    began = time.perf_counter()
    await work
    elapsed = time.perf_counter() - began
    done = True
    await tick
    return lags, cpu, elapsed


def lag_cells(lags: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(lags, 50) * 1e3,
        "p99": percentile(lags, 99) * 1e3,
        "max": max(lags) * 1e3,
        "cpu max": max(cpu) * 1e3,
    }


def row(label: str, values_ms: dict[str, float], note: str = "") -> None:
    cells = "  ".join(f"{k} {v:8.2f}" for k, v in values_ms.items())
    print(f"  {label:<44} {cells}  {note}")


async def bench(runs: int, worker_counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with SpeechSynthesizer(Path(tmp) / "first") as speech:
            per_100 = []
            audio_s = []
            for n in range(runs):
                text = announcement(n)
                began = time.perf_counter()
                result = await speech.synthesize(text, "zh")
                per_100.append((time.perf_counter() - began) * 100 / hanzi(text))
                audio_s.append(result.duration_s)

            hits = [await timed(lambda: speech.synthesize(announcement(0), "zh")) for _ in range(1000)]

        print(f"\nSpeech benchmark (eSpeak NG via pyttsx3, {runs} runs, 1000 cache hits)\n")
        print("  synthesis, per 100 Chinese characters (ms)      [includes chime, MP3 and Ogg Opus encoding]")
        row(
            "fresh text, repeat 1",
            {
                "mean": statistics.mean(per_100) * 1e3,
                "p50": percentile(per_100, 50) * 1e3,
                "max": max(per_100) * 1e3,
            },
            f"(clips {min(audio_s):.1f}-{max(audio_s):.1f} s of audio)",
        )
        print("  cache hit (ms)")
        row("same text again", {"p50": percentile(hits, 50) * 1e3, "p99": percentile(hits, 99) * 1e3})

        print("  event-loop lag, 10 ms ticker (ms; cpu max: most CPU the loop thread used in one tick)")
        idle, idle_cpu, _ = await loop_lag_during(asyncio.sleep(2))
        row("idle (baseline)", lag_cells(idle, idle_cpu))
        for workers in worker_counts:
            async with SpeechSynthesizer(Path(tmp) / f"lag-{workers}", workers=workers) as speech:
                texts = [announcement(1000 + n) for n in range(20)]
                work = asyncio.gather(*(speech.synthesize(t, "zh") for t in texts))
                lags, cpu, elapsed = await loop_lag_during(work)
            row(
                f"20 announcements at once, {workers} worker{'s' if workers > 1 else ''}",
                lag_cells(lags, cpu),
                f"(all 20 done in {elapsed:.1f} s)",
            )
        load = os.getloadavg()
        print(f"\n  {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh syntheses timed (default 5)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for the lag test")
    args = parser.parse_args()
    asyncio.run(bench(args.runs, args.workers))


if __name__ == "__main__":
    main()
