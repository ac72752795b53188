#!/usr/bin/env python3
"""A minimal Kubernetes client for the admission benchmark (stdlib only).

It reads the kubeconfig `ork local up` writes (embedded CA and client certificate), keeps one
HTTP/1.1 keep-alive connection per worker, and times each create from sending the request to
reading the whole answer.

  client.py --kubeconfig KC create --n 2000 --concurrency 8 --label a/seq   -> one JSON line
  client.py --kubeconfig KC clear                 deletecollection + wait until none are left
  client.py --kubeconfig KC probe --expect deny   one privileged Deployment, denied or not
  client.py --kubeconfig KC variants              one change per PSS control, as dry runs
  client.py report RESULT.json                    the table of a finished run
"""

import argparse
import base64
import http.client
import json
import os
import re
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

NS = "bench"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"


# ---------------------------------------------------------------- kubeconfig and connections


def read_kubeconfig(path):
    """server, CA, client cert and key of the first cluster and user (the format ork writes)."""
    text = open(path, encoding="utf-8").read()

    def field(name):
        m = re.search(rf"^\s*{re.escape(name)}:\s*(\S+)\s*$", text, re.M)
        if not m:
            sys.exit(f"client.py: {path}: no {name}")
        return m.group(1)

    return {
        "server": field("server"),
        "ca": base64.b64decode(field("certificate-authority-data")),
        "cert": base64.b64decode(field("client-certificate-data")),
        "key": base64.b64decode(field("client-key-data")),
    }


class Api:
    def __init__(self, kubeconfig):
        kc = read_kubeconfig(kubeconfig)
        url = urllib.parse.urlparse(kc["server"])
        self.host, self.port = url.hostname, url.port or 443
        self.ctx = ssl.create_default_context(cadata=kc["ca"].decode())
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            with open(cert, "wb") as f:
                f.write(kc["cert"])
            with open(key, "wb") as f:
                f.write(kc["key"])
            self.ctx.load_cert_chain(cert, key)

    def connect(self):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
        c.connect()
        return c


def request(conn, method, path, body=None):
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"message": raw[:200].decode(errors="replace")}
    return resp.status, payload


# ---------------------------------------------------------------- objects


def deployment(name, privileged=False):
    """A Deployment whose pod template meets PSS restricted (or, privileged=True, breaks it)."""
    container_sc = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if privileged:
        container_sc = {"privileged": True}
    labels = {"app": "bench", "bench.ork/run": "1"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "fsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/bench/app:1.0.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"cpu": "100m", "memory": "64Mi"},
                            },
                            "securityContext": container_sc,
                        }
                    ],
                },
            },
        },
    }


def variants():
    """(name, expected under PSS restricted, mutation of the compliant Deployment): one change
    per PSS control, to check that each configuration enforces the same thing."""
    def pod(k, v):
        return lambda p, c, t: p.__setitem__(k, v)

    def podsc(k, v):
        return lambda p, c, t: p["securityContext"].__setitem__(k, v)

    def csc(k, v):
        return lambda p, c, t: c["securityContext"].__setitem__(k, v)

    def cpop(k):
        return lambda p, c, t: c["securityContext"].pop(k)

    def both_pop(k):
        return lambda p, c, t: (p["securityContext"].pop(k), c["securityContext"].pop(k))

    init_root = lambda p, c, t: p.__setitem__(
        "initContainers", [{"name": "init", "image": "registry.example/bench/init:1.0.0",
                            "securityContext": dict(c["securityContext"], runAsUser=0)}])
    return [
        ("compliant", "allow", lambda p, c, t: None),
        ("add NET_BIND_SERVICE", "allow", csc("capabilities", {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})),
        ("emptyDir volume", "allow", pod("volumes", [{"name": "v", "emptyDir": {}}])),
        ("runAsNonRoot on the pod only", "allow", cpop("runAsNonRoot")),
        ("seccomp on the pod only", "allow", cpop("seccompProfile")),
        ("safe sysctl", "allow", podsc("sysctls", [{"name": "net.ipv4.tcp_syncookies", "value": "1"}])),
        # (allowPrivilegeEscalation false with privileged is refused by API validation)
        ("privileged", "deny", lambda p, c, t: (c["securityContext"].pop("allowPrivilegeEscalation"),
                                                c["securityContext"].__setitem__("privileged", True))),
        ("hostNetwork", "deny", pod("hostNetwork", True)),
        ("hostPID", "deny", pod("hostPID", True)),
        ("hostIPC", "deny", pod("hostIPC", True)),
        ("hostPath volume", "deny", pod("volumes", [{"name": "v", "hostPath": {"path": "/"}}])),
        ("nfs volume", "deny", pod("volumes", [{"name": "v", "nfs": {"server": "nfs.example", "path": "/"}}])),
        ("hostPort", "deny", lambda p, c, t: c["ports"][0].__setitem__("hostPort", 8080)),
        ("capabilities not dropped", "deny", cpop("capabilities")),
        ("add SYS_ADMIN", "deny", csc("capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
        ("allowPrivilegeEscalation unset", "deny", cpop("allowPrivilegeEscalation")),
        ("runAsNonRoot unset", "deny", both_pop("runAsNonRoot")),
        ("runAsNonRoot false in the container", "deny", csc("runAsNonRoot", False)),
        ("runAsUser 0 in the container", "deny", csc("runAsUser", 0)),
        ("runAsUser 0 on the pod", "deny", podsc("runAsUser", 0)),
        ("runAsUser 0 in an init container", "deny", init_root),
        ("seccomp unset", "deny", both_pop("seccompProfile")),
        ("seccomp Unconfined in the container", "deny", csc("seccompProfile", {"type": "Unconfined"})),
        ("seccomp Unconfined on the pod, RuntimeDefault in the container", "deny",
         podsc("seccompProfile", {"type": "Unconfined"})),
        ("unsafe sysctl", "deny", podsc("sysctls", [{"name": "kernel.msgmax", "value": "65536"}])),
        ("SELinux user", "deny", csc("seLinuxOptions", {"user": "root"})),
        ("SELinux type spc_t on the pod", "deny", podsc("seLinuxOptions", {"type": "spc_t"})),
        ("AppArmor Unconfined (field)", "deny", csc("appArmorProfile", {"type": "Unconfined"})),
        ("AppArmor Unconfined on the pod", "deny", podsc("appArmorProfile", {"type": "Unconfined"})),
        ("AppArmor unconfined (annotation)", "deny", lambda p, c, t: t["metadata"].__setitem__(
            "annotations", {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})),
    ]


def cmd_variants(api, a):
    """Each variant as a server-side dry run (webhooks and policies are called; nothing is
    stored): one JSON object {name: {"expected", "got", "message"}}."""
    import copy
    conn = api.connect()
    out = {}
    for i, (name, expected, change) in enumerate(variants()):
        d = deployment(f"variant-{i:02d}")
        tpl = d["spec"]["template"]
        change(tpl["spec"], tpl["spec"]["containers"][0], tpl)
        status, body = request(conn, "POST", DEPLOYMENTS + "?dryRun=All", copy.deepcopy(d))
        got = "allow" if status == 201 else "deny"
        out[name] = {"expected": expected, "got": got,
                     "message": "" if got == "allow" else str(body.get("message", ""))[:300]}
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- machine


def busy_jiffies():
    """Busy CPU time of the whole machine (all CPUs), in clock ticks."""
    f = open("/proc/stat").readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return user + nice + system + irq + softirq + steal


def ours_jiffies(marker):
    """CPU time of the benchmark's own processes: this client, and every process whose command
    line names the benchmark's work directory (etcd, kube-apiserver, kube-controller-manager,
    the webhook under test)."""
    total = 0
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if pid != me:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
                if not marker or marker.encode() not in cmd:
                    continue
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total


# ---------------------------------------------------------------- commands


def percentile(sorted_ms, p):
    """Nearest-rank percentile."""
    if not sorted_ms:
        return None
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def cmd_create(api, a):
    names = [f"{a.prefix}-{i:05d}" for i in range(a.n)]
    # the bodies are built before the clock starts: the client's JSON work is not admission
    bodies = [json.dumps(deployment(n), separators=(",", ":")).encode() for n in names]
    latencies = [None] * a.n
    errors = []
    lock = threading.Lock()
    next_index = [0]

    def worker():
        conn = api.connect()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        while True:
            with lock:
                i = next_index[0]
                if i >= a.n:
                    break
                next_index[0] += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", DEPLOYMENTS, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = api.connect()
                status, raw = 0, str(e).encode()
            latencies[i] = (time.perf_counter() - t0) * 1000.0
            if status != 201:
                with lock:
                    errors.append({"name": names[i], "status": status, "body": raw[:300].decode(errors="replace")})
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    marker = os.environ.get("BENCH_MARKER", "")
    busy0, ours0 = busy_jiffies(), ours_jiffies(marker)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    hz = os.sysconf("SC_CLK_TCK")
    busy, ours = (busy_jiffies() - busy0) / hz, (ours_jiffies(marker) - ours0) / hz
    ms = sorted(x for x in latencies if x is not None)
    out = {
        "label": a.label,
        "n": a.n,
        "concurrency": a.concurrency,
        "wall_s": round(wall, 3),
        "creates_per_s": round(a.n / wall, 1),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "errors": len(errors),
        "first_errors": errors[:3],
        # the machine is shared: CPU seconds the benchmark's processes used during the run, and
        # what everything else on the machine used meanwhile (others' builds and tests)
        "cpu_s_ours": round(ours, 2),
        "cpu_s_others": round(max(0.0, busy - ours), 2),
    }
    print(json.dumps(out))
    return 0 if not errors else 1


def cmd_clear(api, a):
    conn = api.connect()
    status, body = request(conn, "DELETE", DEPLOYMENTS + "?labelSelector=" + urllib.parse.quote("bench.ork/run"))
    if status not in (200, 202):
        print(f"client.py: deletecollection: {status} {body.get('message')}", file=sys.stderr)
        return 1
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        status, body = request(conn, "GET", DEPLOYMENTS + "?limit=1")
        if status == 200 and not body.get("items"):
            return 0
        time.sleep(0.2)
    print("client.py: Deployments still present after deletecollection", file=sys.stderr)
    return 1


def cmd_probe(api, a):
    """Creates one privileged Deployment; with --wait, retries until the answer is the one
    expected (a policy or webhook becoming active takes a moment). Deletes it if admitted."""
    conn = api.connect()
    deadline = time.time() + a.wait
    attempt = 0
    while True:
        attempt += 1
        name = f"probe-privileged-{attempt}"
        status, body = request(conn, "POST", DEPLOYMENTS, deployment(name, privileged=True))
        admitted = status == 201
        if admitted:
            request(conn, "DELETE", f"{DEPLOYMENTS}/{name}")
        got = "allow" if admitted else "deny"
        if got == a.expect or time.time() >= deadline:
            break
        time.sleep(0.5)
    message = "" if admitted else str(body.get("message", ""))
    print(json.dumps({"expect": a.expect, "got": got, "status": status, "attempts": attempt, "message": message[:400]}))
    return 0 if got == a.expect else 1


def summary(result):
    """Per configuration and concurrency: the median over rounds of each figure, and the range."""
    out = []
    for c in result["configurations"]:
        by_conc = {}
        for run in c["runs"]:
            by_conc.setdefault(run["concurrency"], []).append(run)
        for conc, runs in sorted(by_conc.items()):
            med = lambda k: statistics.median(r[k] for r in runs)
            rng = lambda k: (min(r[k] for r in runs), max(r[k] for r in runs))
            out.append({"key": c["key"], "title": c["title"], "enforcement": c.get("enforcement", ""),
                        "concurrency": conc, "rounds": len(runs),
                        "creates_per_s": med("creates_per_s"), "creates_per_s_range": rng("creates_per_s"),
                        "p50_ms": med("p50_ms"), "p50_ms_range": rng("p50_ms"),
                        "p99_ms": med("p99_ms"), "p99_ms_range": rng("p99_ms"),
                        "errors": sum(r["errors"] for r in runs),
                        # cores busy with other work during the runs (median of the rounds)
                        "others_cores": statistics.median(r.get("cpu_s_others", 0) / r["wall_s"] for r in runs)})
    return out


def cmd_report(a):
    r = json.load(open(a.result, encoding="utf-8"))
    rows_in = summary(r)
    base = {s["concurrency"]: s for s in rows_in if s["key"] == "a"}
    header = ["configuration", "privileged Deployment", "conc", "creates/s", "p50 ms", "p99 ms",
              "p50 over (a)", "p99 over (a)", "others' cores", "errors"]
    rows = []
    for s in rows_in:
        b = base.get(s["concurrency"])
        d50 = d99 = "—"
        if b and s["key"] != "a":
            d50 = f"{s['p50_ms'] - b['p50_ms']:+.2f}"
            d99 = f"{s['p99_ms'] - b['p99_ms']:+.2f}"
        lo, hi = s["p50_ms_range"]
        rows.append([s["title"], s["enforcement"], str(s["concurrency"]), f"{s['creates_per_s']:.0f}",
                     f"{s['p50_ms']:.2f} ({lo:.2f}–{hi:.2f})", f"{s['p99_ms']:.2f}", d50, d99, f"{s['others_cores']:.2f}", str(s["errors"])])
    widths = [max(len(h), *(len(r_[i]) for r_ in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(f"N = {r['n']} creates per run, median of {r.get('rounds', 1)} round(s); p50 as median (min–max of the rounds);")
    print("others' cores: CPU the rest of the machine used during the runs (2 vCPU in all)")
    print()
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r_ in rows:
        print(line(r_))
    v = r.get("variants")
    if v:
        keys = [k for k in ("a", "b", "c", "d", "e") if k in v]
        names = list(v[keys[0]])
        print()
        print("Decisions on one change per PSS control (server-side dry run; (a) shows what API validation")
        print("refuses by itself, (e) enforces nothing but `privileged`). ✓ admitted, ✗ denied,")
        print("! differs from PSS restricted:")
        print()
        w = max(len(n) for n in names)
        print("| " + "variant".ljust(w) + " | PSS | " + " | ".join(f"({k})" for k in keys) + " |")
        print("|" + "-" * (w + 2) + "|-----|" + "|".join("-----" for _ in keys) + "|")
        for n in names:
            cells = []
            for k in keys:
                d = v[k].get(n, {})
                mark = "✓" if d.get("got") == "allow" else "✗"
                if k not in ("a", "e") and d.get("got") != d.get("expected"):
                    mark += "!"
                cells.append(mark.center(3))
            exp = "✓" if v[keys[0]][n]["expected"] == "allow" else "✗"
            print("| " + n.ljust(w) + f" |  {exp}  | " + " | ".join(cells) + " |")
    g = r.get("goal")
    if g:
        print()
        print("Goal: ork p50 over (a) ≤ 1 ms, and ≤ 1/4 of Kyverno's p50 over (a)")
        print("(median over the rounds of each round's p50 minus the same round's (a)):")
        for conc, e in g.items():
            if "ork_p50_over_a_ms" not in e:
                continue
            txt = f"  {conc}: ork {e['ork_p50_over_a_ms']:+.2f} ms ({'met' if e['ork_within_1ms'] else 'MISSED'})"
            if "kyverno_p50_over_a_ms" in e:
                txt += (f"; Kyverno {e['kyverno_p50_over_a_ms']:+.2f} ms, ork/Kyverno = {e['ork_over_kyverno']}"
                        f" ({'met' if e['ork_within_quarter_of_kyverno'] else 'MISSED'})")
            if "cel_p50_over_a_ms" in e:
                txt += f"; CEL {e['cel_p50_over_a_ms']:+.2f} ms"
            if "echo_webhook_p50_over_a_ms" in e:
                txt += (f"; echo webhook {e['echo_webhook_p50_over_a_ms']:+.2f} ms"
                        f" (ork over it {e.get('ork_p50_over_echo_webhook_ms', 0):+.2f} ms)")
            print(txt)
    return 0


def goal(result):
    """The issue's goal, per concurrency: ork's p50 over (a) at most 1 ms, and at most a quarter
    of Kyverno's. Each configuration's p50 is compared with the (a) of the same round (the rounds
    alternate the configurations, so a drift of the shared machine cancels), then the median of
    the rounds is taken."""
    p50 = {}
    for c in result["configurations"]:
        for run in c["runs"]:
            p50[(c["key"], run["concurrency"], run.get("round", 1))] = run["p50_ms"]

    def over(key, base, conc):
        d = [p50[(key, conc, r)] - p50[(base, conc, r)]
             for (k, c_, r) in p50 if k == key and c_ == conc and (base, conc, r) in p50]
        return round(statistics.median(d), 3) if d else None

    out = {}
    for conc in sorted({c_ for (k, c_, r) in p50 if k == "a"}):
        entry = {}
        ork, kyv = over("b", "a", conc), over("d", "a", conc)
        if ork is not None:
            entry["ork_p50_over_a_ms"] = ork
            entry["ork_within_1ms"] = ork <= 1.0
        if ork is not None and kyv is not None:
            entry["kyverno_p50_over_a_ms"] = kyv
            entry["ork_over_kyverno"] = round(ork / kyv, 3) if kyv > 0 else None
            entry["ork_within_quarter_of_kyverno"] = kyv > 0 and ork <= kyv / 4
        if over("c", "a", conc) is not None:
            entry["cel_p50_over_a_ms"] = over("c", "a", conc)
        if over("e", "a", conc) is not None:
            entry["echo_webhook_p50_over_a_ms"] = over("e", "a", conc)
            if ork is not None:
                entry["ork_p50_over_echo_webhook_ms"] = over("b", "e", conc)
        out[f"concurrency {conc}"] = entry
    return out


def cmd_finish(a):
    """Adds the goal comparison to a result file in place."""
    r = json.load(open(a.result, encoding="utf-8"))
    r["summary"] = summary(r)
    r["goal"] = goal(r)
    with open(a.result, "w", encoding="utf-8") as f:
        json.dump(r, f, indent=2)
        f.write("\n")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kubeconfig")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--n", type=int, default=2000)
    c.add_argument("--concurrency", type=int, default=1)
    c.add_argument("--prefix", default="bench")
    c.add_argument("--label", default="")
    c = sub.add_parser("clear")
    c.add_argument("--timeout", type=float, default=120)
    c = sub.add_parser("probe")
    c.add_argument("--expect", choices=["allow", "deny"], required=True)
    c.add_argument("--wait", type=float, default=0)
    sub.add_parser("variants")
    c = sub.add_parser("report")
    c.add_argument("result")
    c = sub.add_parser("finish")
    c.add_argument("result")
    a = p.parse_args()
    if a.cmd == "report":
        return cmd_report(a)
    if a.cmd == "finish":
        return cmd_finish(a)
    api = Api(a.kubeconfig)
    return {"create": cmd_create, "clear": cmd_clear, "probe": cmd_probe, "variants": cmd_variants}[a.cmd](api, a)


if __name__ == "__main__":
    sys.exit(main())
