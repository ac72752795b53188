#!/usr/bin/env python3
"""Saturating runs of ork-loadgen against several servers, in alternating rounds.

    rounds.py --load ork-loadgen --rounds 5 --duration 6s --out rounds.json \
        -- <loadgen run options> -- 'NAME|URL|SERVER-PID|BODY|EXTRA' ...

The first target is the reference (the echo server). Every round runs each target once, in the
order given, and a target's ratio is its throughput over the reference's in the same round; the
reported ratio is the median over the rounds. Each run records the CPU time per request of the
server (utime + stime from /proc/PID/stat) and of the load generator (its rusage), since on this
machine they share the cores and their sum sets the throughput.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        # the command name may hold spaces; the fields after it are fixed
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(load, common, target, duration, warmup):
    name, url, pid, body, extra = target.split("|")
    args = [load, "run", "--url", url, "--body", body, "--max", *common]
    args += extra.split() if extra else []
    subprocess.run(args + ["--warmup", "0s", "--duration", warmup],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server_before, load_before = cpu_ticks(pid), children_cpu()
    # exit 1 means some requests failed: still a report, whose errors are counted below
    done = subprocess.run(args + ["--warmup", "0s", "--duration", duration],
                          capture_output=True, text=True)
    server_after, load_after = cpu_ticks(pid), children_cpu()
    if done.returncode not in (0, 1):
        sys.exit(f"ork-loadgen against {name} failed: {done.stderr.strip()}")
    r = json.loads(done.stdout)
    n = max(r["requests"], 1)
    tick = os.sysconf("SC_CLK_TCK")
    r["server_cpu_us_per_request"] = (server_after - server_before) / tick / n * 1e6
    r["loadgen_cpu_us_per_request"] = (load_after - load_before) / n * 1e6
    return name, r


def main():
    argv = sys.argv[1:]
    first = argv.index("--")
    second = argv.index("--", first + 1)
    p = argparse.ArgumentParser()
    p.add_argument("--load", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", default="6s")
    p.add_argument("--warmup", default="1s")
    p.add_argument("--out", required=True)
    opts = p.parse_args(argv[:first])
    common, targets = argv[first + 1:second], argv[second + 1:]
    names = [t.split("|")[0] for t in targets]
    rounds = []
    for i in range(opts.rounds):
        results = dict(run(opts.load, common, t, opts.duration, opts.warmup) for t in targets)
        rounds.append(results)
        ref = results[names[0]]["throughput_rps"]
        line = "  ".join(
            f"{n}: {results[n]['throughput_rps']:,.0f}/s"
            + (f" ({results[n]['throughput_rps'] / ref:.2f}x)" if n != names[0] else "")
            for n in names)
        print(f"round {i + 1}: {line}", file=sys.stderr)

    def med(name, key):
        return statistics.median(r[name][key] for r in rounds)

    print("| run | req/s, median of rounds | ÷ echo, median (min–max) | server CPU µs/req | "
          "load generator CPU µs/req | errors |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for n in names:
        ratios = [r[n]["throughput_rps"] / r[names[0]]["throughput_rps"] for r in rounds]
        errors = sum(r[n]["errors"] for r in rounds)
        summary[n] = {
            "throughput_rps": med(n, "throughput_rps"),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "server_cpu_us_per_request": med(n, "server_cpu_us_per_request"),
            "loadgen_cpu_us_per_request": med(n, "loadgen_cpu_us_per_request"),
            "errors": errors,
        }
        s = summary[n]
        ratio = "" if n == names[0] else \
            f"{s['ratio_median']:.2f} ({s['ratio_min']:.2f}–{s['ratio_max']:.2f})"
        print(f"| {n} | {s['throughput_rps']:,.0f} | {ratio} | "
              f"{s['server_cpu_us_per_request']:.1f} | {s['loadgen_cpu_us_per_request']:.1f} | "
              f"{errors} |")
    with open(opts.out, "w") as f:
        json.dump({"rounds": rounds, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
