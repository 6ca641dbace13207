#!/bin/bash
# Joins this worker to the cluster through the stable name of the masters.
#
# Started by kubeadm-minion.service, which runs only where /etc/sysconfig/kubernetes-minion exists.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${CNCFDEMO_LIB:-/usr/local/lib/cncfdemo}/common.sh"

if already_bootstrapped; then
    log "this node has joined before ($KUBERNETES_DIR/kubelet.conf exists); nothing to do"
    exit 0
fi
require_kubeadm

# Discovery needs the name; it appears once the first master is in service.
until [ -n "$(resolve_addresses "$API_HOST")" ]; do
    check_deadline "$API_HOST to resolve"
    sleep 5
done

token="$(cat "$CNCFDEMO_DIR/token")"
ca_cert_hash="$(cat "$CNCFDEMO_DIR/ca-cert-hash")"

# kubeadm retries discovery itself until the API answers; the loop covers a longer wait.
log "joining $API_ENDPOINT as a worker"
join_with_retries "$API_ENDPOINT" --token "$token" --discovery-token-ca-cert-hash "$ca_cert_hash"
log "joined $API_ENDPOINT"
