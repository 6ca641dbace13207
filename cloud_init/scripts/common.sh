# shellcheck shell=bash
# Helpers shared by the kubeadm bootstrap scripts; sourced, never run.
#
# Reads from the environment (the units' drop-ins load /etc/sysconfig/kubernetes-cluster):
#   API_ENDPOINT       masters.<cluster>.k8s:6443, the one name every kubeadm call uses
#   BOOTSTRAP_TIMEOUT  seconds a script waits for the cluster before giving up (default 1800)
#   NODE_IP            this node's address; found from the routing table when unset
#   CNCFDEMO_DIR, KUBERNETES_DIR  default /etc/cncfdemo and /etc/kubernetes (tests move them)

CNCFDEMO_DIR="${CNCFDEMO_DIR:-/etc/cncfdemo}"
KUBERNETES_DIR="${KUBERNETES_DIR:-/etc/kubernetes}"
API_HOST="${API_ENDPOINT%:*}"
API_PORT="${API_ENDPOINT##*:}"
BOOTSTRAP_TIMEOUT="${BOOTSTRAP_TIMEOUT:-1800}"
DEADLINE=$(($(date +%s) + BOOTSTRAP_TIMEOUT))

log() {
    echo "cncfdemo: $*" >&2
}

fail() {
    log "$*"
    exit 1
}

# kubeadm writes kubelet.conf once a node has joined; a reboot must not bootstrap it again.
already_bootstrapped() {
    [ -e "$KUBERNETES_DIR/kubelet.conf" ]
}

require_kubeadm() {
    command -v kubeadm >/dev/null \
        || fail "kubeadm is not installed: the image is not prebuilt and cncfdemo-install.service did not install it (see journalctl -u cncfdemo-install)"
}

# Stops the script with what it was waiting for, once BOOTSTRAP_TIMEOUT has passed.
check_deadline() {
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then
        fail "gave up after ${BOOTSTRAP_TIMEOUT}s waiting for $1"
    fi
}

# The IPv4 addresses a name resolves to, numerically sorted, one a line.
resolve_addresses() {
    getent ahostsv4 "$1" | awk '{ print $1 }' | sort -u -t . -k1,1n -k2,2n -k3,3n -k4,4n
}

# This node's address: the source address of the route toward a peer.
node_ip() {
    if [ -n "${NODE_IP:-}" ]; then
        echo "$NODE_IP"
        return
    fi
    ip -4 route get "$1" | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1
}

# True when the API server on this address answers /readyz with a certificate of the cluster CA.
api_answers_on() {
    curl --silent --fail --max-time 5 --cacert "$1" \
        --resolve "${API_HOST}:${API_PORT}:$2" \
        "https://${API_HOST}:${API_PORT}/readyz" >/dev/null 2>&1
}

# True when any of the given addresses has a ready API server.
api_answers() {
    local ca_cert="$1" address
    shift
    for address in "$@"; do
        if api_answers_on "$ca_cert" "$address"; then
            return 0
        fi
    done
    return 1
}

# Runs a kubeadm join until it succeeds; a failed attempt is reset so the next starts clean.
join_with_retries() {
    until kubeadm join "$@"; do
        check_deadline "kubeadm join to succeed"
        log "kubeadm join failed; resetting and retrying in 15s"
        kubeadm reset --force || true
        sleep 15
    done
}
