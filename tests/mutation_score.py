"""Per-module mutation score after `mutmut run` (`make mutation` runs this last).

A module's score is the share of its mutants that some test caught. A mutant no test reaches counts
as surviving: nothing would notice it. A timeout counts as caught (the tests hung, so they noticed).
One kind of mutant is set apart as equivalent, because no program could tell it from the original:
a change of letter case inside an SQL statement or a PRAGMA (SQL keywords, SQLite's names and its pragmas are case-blind).
Every other survivor is printed with its change, for docs/testing.md to account for.
Exits 1 when a module is under the target, so the figure cannot quietly slide.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

TARGET = 0.85
CAUGHT = {"killed", "timeout"}
NOT_RUN = {"skipped", "not checked", "check was interrupted by user"}
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|ORDER BY|IS NULL|PRAGMA)\b", re.IGNORECASE)


def mutmut(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], check=True, capture_output=True, text=True).stdout


def module_of(mutant: str) -> str:
    """`broadcast_server.hub.xǁHubǁ_on_ack__mutmut_3` -> `broadcast_server.hub`."""
    return re.split(r"\.x[ǁ_]", mutant, maxsplit=1)[0]


def change_of(mutant: str) -> tuple[list[str], list[str]]:
    """The removed and the added lines of a mutant's diff."""
    lines = mutmut("show", mutant).splitlines()
    removed = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def sql_case_only(removed: list[str], added: list[str]) -> bool:
    return (
        bool(removed)
        and [line.lower() for line in removed] == [line.lower() for line in added]
        and all(SQL.search(line) for line in removed)
    )


def main() -> int:
    statuses: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status
    if not statuses:
        print("no mutation results: run `mutmut run` first", file=sys.stderr)
        return 2
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors: list[tuple[str, list[str], list[str]]] = []
    for name, status in sorted(statuses.items()):
        module = module_of(name)
        if status in NOT_RUN:
            counts[module]["not run"] += 1
            continue
        counts[module]["run"] += 1
        if status in CAUGHT:
            counts[module]["caught"] += 1
            continue
        removed, added = change_of(name)
        if sql_case_only(removed, added):
            counts[module]["equivalent"] += 1
            continue
        survivors.append((name, removed, added))

    for name, removed, added in survivors:
        print(f"{name} ({statuses[name]})")
        for line in removed:
            print(f"    - {line}")
        for line in added:
            print(f"    + {line}")
    print()
    print(f"{'module':36} {'mutants':>8} {'equivalent':>10} {'caught':>7} {'missed':>7} {'score':>7} {'not run':>8}")
    below = []
    total = Counter()
    for module, c in sorted(counts.items()):
        total.update(c)
        print(row(module, c))
        if score(c) < TARGET:
            below.append(module)
    print(row("all", total))
    if below:
        print(f"under the {TARGET:.0%} target: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


def score(c: Counter) -> float:
    judged = c["run"] - c["equivalent"]
    return c["caught"] / judged if judged else 1.0


def row(module: str, c: Counter) -> str:
    missed = c["run"] - c["equivalent"] - c["caught"]
    return (
        f"{module:36} {c['run']:8} {c['equivalent']:10} {c['caught']:7} {missed:7} {score(c):7.1%} {c['not run']:8}"
    )


if __name__ == "__main__":
    sys.exit(main())
