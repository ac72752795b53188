#!/usr/bin/env python3
"""Generate a large, seeded RBAC corpus for timing `ork rbac audit` and `ork rbac who-can`.

Shape (defaults): 5,000 ClusterRoles, half of them aggregating, and 10,000 bindings.
  - ROLES/2 component ClusterRoles, each with 2-4 rules (some risky: Secret reads, pods/exec,
    wildcards) and the label `bench.ork.io/aggregate-to-g<N>: "true"`, 5 components per group;
    every 10th also carries `bench.ork.io/aggregate-to-view: "true"`, every 7th a `tier` label.
  - ROLES/2 aggregating ClusterRoles selecting one group by matchLabels (every 25th by a
    matchExpressions `tier In [...]` instead), and three view/edit/admin-like roles that select
    every `aggregate-to-view` component, as the built-in aggregated roles of a real cluster do.
  - BINDINGS bindings, a fifth ClusterRoleBindings and the rest RoleBindings in 200 namespaces,
    each naming 1-3 subjects (Users, Groups, ServiceAccounts) and a random ClusterRole.
The whole corpus is written as YAML documents to OUT/roles.yaml and OUT/bindings.yaml.

Usage: scripts/bench/rbac-gen.py OUT [--roles 5000] [--bindings 10000] [--seed 1]
"""
import argparse, random
from pathlib import Path

API = "rbac.authorization.k8s.io/v1"
GROUP_SIZE = 5

RULES = [
    '  - {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}',
    '  - {apiGroups: [apps], resources: [deployments, statefulsets], verbs: [get, list, watch]}',
    '  - {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list]}',
    '  - {apiGroups: [batch], resources: [jobs], verbs: [create, delete]}',
    '  - {apiGroups: [""], resources: [secrets], verbs: [get, list]}',
    '  - {apiGroups: [""], resources: [pods/exec], verbs: [create]}',
    '  - {apiGroups: [""], resources: [services], verbs: ["*"]}',
    '  - {apiGroups: [networking.k8s.io], resources: [ingresses], verbs: [get, update, patch]}',
]
# risky rules are rarer than plain ones
WEIGHTS = [6, 6, 6, 3, 1, 1, 1, 4]


def components(rng, n):
    out = []
    for i in range(n):
        labels = [f'bench.ork.io/aggregate-to-g{i // GROUP_SIZE}: "true"']
        if i % 10 == 0:
            labels.append('bench.ork.io/aggregate-to-view: "true"')
        if i % 7 == 0:
            labels.append(f"bench.ork.io/tier: t{i % 3}")
        rules = rng.choices(RULES, weights=WEIGHTS, k=rng.randint(2, 4))
        out.append(
            f"apiVersion: {API}\nkind: ClusterRole\nmetadata:\n  name: component-{i}\n"
            f"  labels: {{{', '.join(labels)}}}\nrules:\n" + "\n".join(rules)
        )
    return out


def aggregators(rng, n, groups):
    out = []
    for name in ["bench-view", "bench-edit", "bench-admin"]:
        out.append(
            f"apiVersion: {API}\nkind: ClusterRole\nmetadata: {{name: {name}}}\naggregationRule:\n"
            '  clusterRoleSelectors: [{matchLabels: {bench.ork.io/aggregate-to-view: "true"}}]\nrules: []'
        )
    for j in range(n - 3):
        if j % 25 == 0:
            sel = f"{{matchExpressions: [{{key: bench.ork.io/tier, operator: In, values: [t{j % 3}]}}]}}"
        else:
            sel = f'{{matchLabels: {{bench.ork.io/aggregate-to-g{rng.randrange(groups)}: "true"}}}}'
        own = "\nrules:\n" + RULES[0] if j % 4 == 0 else "\nrules: []"
        out.append(
            f"apiVersion: {API}\nkind: ClusterRole\nmetadata: {{name: aggregate-{j}}}\naggregationRule:\n"
            f"  clusterRoleSelectors: [{sel}]" + own
        )
    return out


def subject(rng):
    k = rng.random()
    if k < 0.4:
        return f"{{kind: User, name: user-{rng.randrange(2000)}, apiGroup: rbac.authorization.k8s.io}}"
    if k < 0.6:
        return f"{{kind: Group, name: group-{rng.randrange(300)}, apiGroup: rbac.authorization.k8s.io}}"
    return f"{{kind: ServiceAccount, name: sa-{rng.randrange(1000)}, namespace: ns-{rng.randrange(200)}}}"


def bindings(rng, n, role_names):
    out = []
    for i in range(n):
        role = rng.choice(role_names)
        subjects = ", ".join(subject(rng) for _ in range(rng.randint(1, 3)))
        if i % 5 == 0:
            meta = f"{{name: crb-{i}}}"
            kind = "ClusterRoleBinding"
        else:
            meta = f"{{name: rb-{i}, namespace: ns-{rng.randrange(200)}}}"
            kind = "RoleBinding"
        out.append(
            f"apiVersion: {API}\nkind: {kind}\nmetadata: {meta}\n"
            f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n"
            f"subjects: [{subjects}]"
        )
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--roles", type=int, default=5000)
    p.add_argument("--bindings", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    n_comp = a.roles // 2
    groups = max(1, (n_comp + GROUP_SIZE - 1) // GROUP_SIZE)
    comp = components(rng, n_comp)
    agg = aggregators(rng, a.roles - n_comp, groups)
    names = [f"component-{i}" for i in range(n_comp)] + ["bench-view", "bench-edit", "bench-admin"]
    names += [f"aggregate-{j}" for j in range(a.roles - n_comp - 3)]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "roles.yaml").write_text("\n---\n".join(comp + agg) + "\n")
    (a.out / "bindings.yaml").write_text("\n---\n".join(bindings(rng, a.bindings, names)) + "\n")
    print(f"{a.out}: {a.roles} ClusterRoles ({len(agg)} aggregating), {a.bindings} bindings")


if __name__ == "__main__":
    main()
