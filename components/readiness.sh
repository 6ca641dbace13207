#!/bin/sh
# The readiness gate: waits until the API answers /readyz, then until EXPECTED_NODES nodes are
# Ready. The admin kubeconfig arrives on standard input and lives only in a private temporary
# file, never on a command line or in the output. A step that runs out of time fails with its
# name, so `pulumi up` says what did not finish.
#
# Environment: EXPECTED_NODES, API_TIMEOUT and NODES_TIMEOUT (seconds), POLL_INTERVAL (seconds,
# default 10).
set -eu

: "${EXPECTED_NODES:?}" "${API_TIMEOUT:?}" "${NODES_TIMEOUT:?}"
interval="${POLL_INTERVAL:-10}"

if ! command -v kubectl >/dev/null 2>&1; then
    echo "readiness gate: kubectl is not installed; install it to deploy onto the cluster" >&2
    exit 1
fi

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT INT TERM
cat > "$workdir/kubeconfig"
if [ ! -s "$workdir/kubeconfig" ]; then
    echo "readiness gate: no kubeconfig on standard input" >&2
    exit 1
fi
KUBECONFIG="$workdir/kubeconfig"
export KUBECONFIG

# step NAME TIMEOUT CHECK: runs CHECK until it succeeds, or fails naming the step
step() {
    name="$1"
    deadline=$(( $(date +%s) + $2 ))
    while ! "$3"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "readiness gate: step '$name' did not finish within $2 s; last: $(last)" >&2
            exit 1
        fi
        sleep "$interval"
    done
    echo "readiness gate: $name"
}

last() {
    tr '\n' ' ' < "$workdir/last" | cut -c1-300
}

api_ready() {
    kubectl get --raw=/readyz --request-timeout=10s > "$workdir/last" 2>&1
}

nodes_ready() {
    if ! kubectl get nodes --request-timeout=10s -o \
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
        > "$workdir/statuses" 2> "$workdir/last"; then
        return 1
    fi
    ready="$(grep -c '^True$' "$workdir/statuses" || true)"
    echo "$ready of $EXPECTED_NODES nodes Ready" > "$workdir/last"
    [ "$ready" -ge "$EXPECTED_NODES" ]
}

step "API answers /readyz" "$API_TIMEOUT" api_ready
step "$EXPECTED_NODES nodes Ready" "$NODES_TIMEOUT" nodes_ready
