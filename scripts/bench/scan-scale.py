#!/usr/bin/env python3
"""`ork scan` at scale (not part of CI): time and peak memory against the number of objects.

Generates seeded corpora with the generator of scan-vs-checkov.py (same workloads, same
misconfigurations) and runs the release `ork scan CORPUS -o json` on each under
`/usr/bin/time -v`, printing wall time, peak RSS and the counts of the JSON summary:
  - files:  N objects in N/50 files of 50 documents each (directory walk, files in parallel);
  - list:   one `kind: List` file of N items, written as compact JSON so that 100,000 items
            (65.5 MB, 62.5 MiB) fit the default `file.bytes` budget of 64 MiB (see BENCHMARKS.md).
Sizes default to 10,000, 50,000 and 100,000 objects, to show that time is linear in size.
Usage: scripts/bench/scan-scale.py [--ork PATH] [--sizes 10000,50000,100000] [--runs R]
                                   [--keep DIR]
"""
import argparse, importlib.util, json, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def checkov_bench():
    """scan-vs-checkov.py as a module (its file name is not an identifier)."""
    spec = importlib.util.spec_from_file_location("scan_vs_checkov", ROOT / "scripts/bench/scan-vs-checkov.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_list(path, docs):
    with open(path, "w") as out:
        out.write('{"apiVersion":"v1","kind":"List","items":[')
        for i, d in enumerate(docs):
            if i:
                out.write(",\n")
            out.write(json.dumps(d, separators=(",", ":")))
        out.write("]}\n")


def measure(ork, corpus, runs):
    """Best wall time of `runs` and the peak RSS of that run; the JSON summary of the last."""
    best = None
    for _ in range(runs):
        p = subprocess.run(["/usr/bin/time", "-v", ork, "scan", str(corpus), "-o", "json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode not in (0, 1):
            return {"error": p.stderr.strip().splitlines()[0] if p.stderr.strip() else f"exit {p.returncode}"}
        wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", p.stderr)
        h, m, s = wall.groups()
        secs = int(h or 0) * 3600 + int(m) * 60 + float(s)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
        summary = json.loads(p.stdout)["summary"]
        run = {"wall": secs, "rss_mb": rss / 1024, "objects": summary["objects"],
               "findings": summary["findings"], "out_mb": len(p.stdout) / 1e6}
        if best is None or secs < best["wall"]:
            best = run
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ork", default=str(ROOT / "target/release/ork"))
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", help="generate the corpora into this directory and keep them")
    a = ap.parse_args()
    if not Path(a.ork).exists():
        sys.exit(f"{a.ork}: not found (cargo build --release -p ork-cli --bin ork, or pass --ork)")
    gen = checkov_bench()
    sizes = [int(s) for s in a.sizes.split(",")]
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="ork-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        print(f"ork: {a.ork}; {os.cpu_count()} CPUs; best of {a.runs}")
        print()
        print("| corpus | objects | input MB | wall s | µs/object | max RSS MB | findings | JSON MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            files = tmp / f"files-{n}"
            if not files.exists():
                files.mkdir()
                docs = gen.generate(files, n)  # seed 42, 50 documents per file
            else:
                docs = None
            lst = tmp / f"list-{n}.json"
            if not lst.exists():
                if docs is None:
                    docs = gen.generate(Path(tempfile.mkdtemp(prefix="ork-scale-gen-")), n)
                write_list(lst, docs)
            for label, corpus in [(f"{n // 50:,} files × 50", files), ("one List", lst)]:
                size = sum(f.stat().st_size for f in files.iterdir()) if corpus.is_dir() else corpus.stat().st_size
                r = measure(a.ork, corpus, a.runs)
                if "error" in r:
                    print(f"| {label} | {n:,} | {size / 1e6:.1f} | refused: {r['error']} | | | | |")
                    continue
                print(f"| {label} | {r['objects']:,} | {size / 1e6:.1f} | {r['wall']:.2f} | {r['wall'] / n * 1e6:.1f} "
                      f"| {r['rss_mb']:.0f} | {r['findings']:,} | {r['out_mb']:.0f} |", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
