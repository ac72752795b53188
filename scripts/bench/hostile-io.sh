#!/usr/bin/env bash
# Time and peak memory of `ork` on each class of hostile input of issue 8 (not part of CI).
#
# Usage: scripts/bench/hostile-io.sh [ORK] [AS_LIMIT]
#   ORK       the binary (default target/release/ork; build with cargo build --release -p ork-cli --bin ork)
#   AS_LIMIT  address-space limit in bytes for each run (default 2 GiB), with a 10 s wall-clock kill, so that
#             a binary without the fixes fails fast instead of hanging or exhausting the machine.
# Prints one line per case: wall seconds, max RSS (KB) from /usr/bin/time -v, exit status
# (124 = killed by the 10 s timeout, 134/137 = aborted at the address-space limit).
# Needs mkfifo and, for the character-device case, root (mknod).
set -u
ORK=$(realpath "${1:-target/release/ork}")
AS=${2:-2147483648}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat > "$T/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: "web\e[2J\a", namespace: shop}
spec:
  template:
    spec:
      containers: [{name: app, image: nginx:1.25, securityContext: {privileged: true}}]
EOF
cp "$ROOT/tests/fixtures/rbac/cluster.yaml" "$T/rbac.yaml"
mkdir -p "$T/scan-fifo" "$T/scan-chr" "$T/rbac-fifo" "$T/katalog"
cp "$T/deploy.yaml" "$T/scan-fifo/"; mkfifo "$T/scan-fifo/stuck.yaml"
cp "$T/deploy.yaml" "$T/scan-chr/"; mknod "$T/scan-chr/zero.yaml" c 1 5 2>/dev/null || echo "(no mknod: character-device case skipped)"
cp "$T/rbac.yaml" "$T/rbac-fifo/"; mkfifo "$T/rbac-fifo/stuck.yaml"
printf 'apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: z}\nspec:\n  crds:\n    web: {crdFile: /dev/zero}\n' > "$T/katalog/katalog.yaml"

run() {
  local name=$1; shift
  local dir=$1; shift
  (cd "$dir" && /usr/bin/time -v timeout -s KILL 10 prlimit --as="$AS" -- "$ORK" "$@" >/dev/null 2>"$T/err" </dev/null)
  local code=$?
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$T/err" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$T/err" | awk '{print $NF}')
  printf '%-44s wall %-8s maxRSS %8s KB  exit %s\n' "$name" "$wall" "$rss" "$code"
}

run "scan DIR with a FIFO *.yaml" "$T" scan scan-fifo
[ -c "$T/scan-chr/zero.yaml" ] && run "scan DIR with a char device *.yaml" "$T" scan scan-chr
run "rbac audit -f DIR with a FIFO" "$T" rbac audit -f rbac-fifo
run "rbac who-can -f DIR with a FIFO" "$T" rbac who-can get secrets -f rbac-fifo
run "validate -f /dev/zero" "$T" validate -f /dev/zero
run "scan /dev/zero" "$T" scan /dev/zero
run "rbac audit -f /dev/zero" "$T" rbac audit -f /dev/zero
run "rbac who-can -f /dev/zero" "$T" rbac who-can get pods -f /dev/zero
run "validate (crdFile: /dev/zero)" "$T/katalog" validate -f katalog.yaml
run "scan KATALOG --cr /dev/zero" "$ROOT/examples/website" scan katalog.yaml --cr /dev/zero
run "scan -o junit (ESC/BEL in names)" "$T" scan deploy.yaml -o junit
