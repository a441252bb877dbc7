"""Top functions of py-spy raw recordings (`bench_deadlines.py --profile DIR`).

    uv run python services/deadline-watcher/bench/profile_top.py DIR/burst_fire-w1.txt [--top 30]

Prints, per function (`name (file)`), the share of samples it was on the stack (inclusive) and
at the top of it (self), largest inclusive first. Idle samples (py-spy's `--nonblocking`
records a waiting thread too) are counted separately, so the shares are of busy samples.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Frames at the top of a stack that mean "waiting, not working".
_IDLE_LEAVES = ("EpollSelector.select (selectors.py)", "select (selectors.py)")


def _frame_name(frame: str) -> str:
    """`fire_due (deadline_watcher/service_layer/firing.py:80)` without the line number."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})" if where else name


def top(path: Path, count: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = idle = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = [_frame_name(frame) for frame in stack.split(";")]
        if frames[-1] in _IDLE_LEAVES:
            idle += int(samples)
            continue
        busy += int(samples)
        own[frames[-1]] += int(samples)
        for name in set(frames):
            inclusive[name] += int(samples)
    lines = [f"{path.name}: {busy} busy samples, {idle} idle", "incl %  self %  function"]
    for name, on_stack in inclusive.most_common(count):
        lines.append(f"{100 * on_stack / busy:6.1f}  {100 * own[name] / busy:6.1f}  {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for path in args.paths:
        print(top(path, args.top), end="\n\n")


if __name__ == "__main__":
    main()
