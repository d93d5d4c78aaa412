#!/usr/bin/env python3
"""Summarises a dotnet-trace speedscope profile of the same-node harness (scripts/bench.sh profile).

Prints, as shares of every thread's sampled CPU time (CPU_TIME leaves):
  - RoutingSdk's own time: samples whose deepest RoutingSdk frame calls no EF Core or Npgsql code below it
    (RoutingSdk's code and the runtime it calls directly), by that frame and its first callee;
  - the health monitor's time (PoolHealthMonitor, NodeWatch timers, SynchronousStandbyNames);
  - EF Core's and Npgsql's own totals, for scale.
Usage: profile-summary.py <profile.speedscope.json> [top]
"""
import collections
import json
import sys


def ours(name: str) -> bool:
    if "Benchmarks" in name:
        return False
    return name.startswith(("RoutingSdk!", "RoutingSdk.EntityFrameworkCore!")) or (
        "AsyncStateMachineBox" in name and "RoutingSdk." in name)


def foreign(name: str) -> bool:
    return ("EntityFrameworkCore" in name and "RoutingSdk" not in name) or name.startswith("Npgsql")


def short(name: str, width: int) -> str:
    return name.split("!")[-1][:width]


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: profile-summary.py <profile.speedscope.json> [top]")
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    names = [frame["name"] for frame in data["shared"]["frames"]]
    own = collections.Counter()
    total = monitor = ef = npgsql = 0.0
    for profile in data["profiles"]:
        if profile["type"] != "evented":
            continue
        stack, last = [], None
        for event in profile["events"]:
            at = event["at"]
            if stack and last is not None and names[stack[-1]] == "CPU_TIME":
                dt = at - last
                total += dt
                frames = [names[i] for i in stack]
                if any("PoolHealthMonitor" in n or "NodeWatch+Timer" in n or "SynchronousStandbyNames" in n for n in frames):
                    monitor += dt
                if any(n.startswith("Microsoft.EntityFrameworkCore") for n in frames):
                    ef += dt
                if any(n.startswith("Npgsql!") for n in frames):
                    npgsql += dt
                deepest = [k for k, n in enumerate(frames) if ours(n)]
                if deepest:
                    k = deepest[-1]
                    below = frames[k + 1:]
                    if not any(foreign(n) for n in below):
                        callee = short(below[0], 50) if len(below) > 1 else "self"
                        own[f"{short(frames[k], 100)} -> {callee}"] += dt
            last = at
            if event["type"] == "O":
                stack.append(event["frame"])
            elif stack:
                stack.pop()
    if total == 0:
        sys.exit("no CPU_TIME samples in the profile")
    mine = sum(own.values())
    print(f"sampled CPU time: {total / 1000:.1f} s over all threads")
    print(f"RoutingSdk's own code: {100 * mine / total:.3f}%   health monitor: {100 * monitor / total:.3f}%   "
          f"under EF Core frames: {100 * ef / total:.1f}%   under Npgsql frames: {100 * npgsql / total:.1f}%")
    for name, value in own.most_common(top):
        print(f"  {100 * value / total:6.3f}%  {name}")


if __name__ == "__main__":
    main()
