"""The garbage collector, tuned for a server that holds thousands of long-lived connections.

CPython's cyclic collector walks every tracked object of a generation when it collects it. With 10,000 screens
connected the old generation holds millions of objects, and a storm of hellos (each allocating a transport, a
parser, a writer and tasks) set off full collections again and again: with the defaults, bench/fanout.py measured
10,000 screens connecting in 5.9 s and the acks after a post keeping the server busy 1.0 s; with this, 3.1 s and
0.5 s (the bare server: 2.5 s and 0.5 s). So once the server has started, what start-up made (modules, settings, the
screen directory) is frozen out of every later collection, and the young generation is collected after 50,000 new
objects rather than 700, so that the older ones are walked far less often. Cyclic garbage is still collected.

Only `village-broadcast serve` does this: a test process starts many servers, and freezing would keep each earlier
test's garbage for good.
"""

from __future__ import annotations

import gc

from aiohttp import web

YOUNG_THRESHOLD = 50_000  # new objects between collections of the youngest generation (CPython's default: 700)


async def settle_heap(app: web.Application) -> None:
    """An on_startup hook, after every other: freeze what start-up made, and collect the young less often."""
    gc.collect()  # start-up's garbage first, or it would be frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
