#!/bin/bash
# Makes this node a control-plane node: `kubeadm init` on the first master, `kubeadm join
# --control-plane` on every other, then the first master applies the CNI.
#
# Started by kubeadm-master.service, which runs only where /etc/sysconfig/kubernetes-master exists.
#
# Choosing the first master without a race. All masters share one auto scaling group and the same
# user-data, so nothing tells them apart but their addresses. Each master waits until
# masters.<cluster>.k8s lists MASTER_COUNT addresses including its own, then:
#   - if an API server already answers /readyz on any of them, the cluster exists: it joins;
#   - otherwise the master with the lowest address runs `kubeadm init`, and every other master
#     waits for that API server and joins it.
# Every master decides from the same complete set, so exactly one of them finds itself lowest and
# no two can both init. A master that replaces a lost one later finds the API answering and joins
# instead, whatever its address. Not covered: a master that fails and is replaced while the first
# master is still initialising; its replacement, finding no API yet, could be the lowest of the
# new set and init a second cluster. That needs an instance lost in the first minutes of bring-up.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${CNCFDEMO_LIB:-/usr/local/lib/cncfdemo}/common.sh"

CA_CERT="$KUBERNETES_DIR/pki/ca.crt"
ADMIN_KUBECONFIG="$KUBERNETES_DIR/admin.conf"

if already_bootstrapped; then
    log "this node has joined before ($KUBERNETES_DIR/kubelet.conf exists); nothing to do"
    exit 0
fi
require_kubeadm

# Waits until the name lists every master, this one included; sets `masters` and `me`.
wait_for_all_masters() {
    local count
    while :; do
        mapfile -t masters < <(resolve_addresses "$API_HOST")
        count=${#masters[@]}
        me=""
        if [ "$count" -gt 0 ]; then
            me="$(node_ip "${masters[0]}")"
        fi
        if [ "$count" -ge "$MASTER_COUNT" ] && printf '%s\n' "${masters[@]}" | grep -qxF "$me"; then
            return
        fi
        check_deadline "$API_HOST to list $MASTER_COUNT masters including this one (has $count)"
        sleep 5
    done
}

wait_for_api() {
    until api_answers "$CA_CERT" "${masters[@]}"; do
        check_deadline "the API server of the first master at $API_ENDPOINT"
        sleep 10
        mapfile -t masters < <(resolve_addresses "$API_HOST")
    done
}

join_control_plane() {
    join_with_retries "$API_ENDPOINT" \
        --token "$(cat "$CNCFDEMO_DIR/token")" \
        --discovery-token-ca-cert-hash "$(cat "$CNCFDEMO_DIR/ca-cert-hash")" \
        --control-plane "$@"
}

# Fetches the CNI manifest and sets the pod range in it. Calico's manifest carries the setting
# commented out; uncommenting it is the edit Calico documents for a range other than its default.
cni_manifest() {
    local manifest="$CNCFDEMO_DIR/cni.yaml"
    curl --fail --silent --show-error --location --retry 5 "$CNI_MANIFEST_URL" --output "$manifest"
    if [ "$CNI_NAME" = calico ]; then
        sed -i -E \
            -e 's@^([[:space:]]*)# (- name: CALICO_IPV4POOL_CIDR)$@\1\2@' \
            -e 's@^([[:space:]]*)#   value: "192\.168\.0\.0/16"$@\1  value: "'"$POD_CIDR"'"@' \
            "$manifest"
        grep -qF "value: \"$POD_CIDR\"" "$manifest" \
            || fail "could not set CALICO_IPV4POOL_CIDR in $CNI_MANIFEST_URL"
    fi
    echo "$manifest"
}

apply_cni() {
    local manifest attempt
    manifest="$(cni_manifest)"
    for attempt in 1 2 3 4 5; do
        # Server-side apply: the CNI's custom resource definitions are too large for the
        # annotation a client-side apply keeps.
        if kubectl --kubeconfig "$ADMIN_KUBECONFIG" apply --server-side --force-conflicts \
            -f "$manifest"; then
            return
        fi
        log "applying the CNI failed (attempt $attempt); retrying in 10s"
        sleep 10
    done
    fail "could not apply the CNI manifest $manifest"
}

wait_for_all_masters
log "masters: ${masters[*]}; this node: $me"

if api_answers "$CA_CERT" "${masters[@]}"; then
    # A replacement: the kubeadm-certs Secret that --certificate-key unlocks expires two hours
    # after init, so join with the shared PKI that cloud-init already placed in
    # /etc/kubernetes/pki.
    log "the API server answers: joining the existing control plane"
    join_control_plane
elif [ "$me" = "${masters[0]}" ]; then
    log "lowest address of the set and no API server yet: running kubeadm init"
    # No retry: a failed init leaves a half-made control plane whose cause is in the journal;
    # the other masters keep waiting for it until BOOTSTRAP_TIMEOUT.
    kubeadm init --config "$CNCFDEMO_DIR/kubeadm-init.yaml" --upload-certs
    apply_cni
else
    log "waiting for the first master (${masters[0]}) to initialise the cluster"
    wait_for_api
    join_control_plane --certificate-key "$(cat "$CNCFDEMO_DIR/certificate-key")"
fi
log "control plane bootstrap done"
