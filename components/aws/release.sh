#!/bin/sh
# Runs at `pulumi destroy`, after the workloads are deleted and before the cloud controller
# manager and the EBS CSI driver are: deletes what Kubernetes made in AWS (the load balancers of
# LoadBalancer Services, the volumes of claims) while the controllers that delete it still run,
# so nothing is left behind and nothing holds the VPC. The admin kubeconfig arrives on standard
# input and lives only in a private temporary file.
#
# Environment: RELEASE_TIMEOUT (seconds), CSI_DRIVER (the volumes' driver name), POLL_INTERVAL
# (seconds, default 10).
set -eu

: "${RELEASE_TIMEOUT:?}" "${CSI_DRIVER:?}"
interval="${POLL_INTERVAL:-10}"

if ! command -v kubectl >/dev/null 2>&1; then
    echo "release: kubectl is not installed; without it the cluster's load balancers and" \
        "volumes cannot be deleted before the network is" >&2
    exit 1
fi

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT INT TERM
cat > "$workdir/kubeconfig"
KUBECONFIG="$workdir/kubeconfig"
export KUBECONFIG

leftovers="load balancers and EBS volumes tagged kubernetes.io/cluster/<cluster> may be"
leftovers="$leftovers left: delete them in the AWS console"

if ! kubectl get --raw=/readyz --request-timeout=15s >/dev/null 2>&1; then
    echo "release: the API does not answer, so nothing can be asked of it: $leftovers" >&2
    exit 0
fi

kubectl get services --all-namespaces -o \
    'jsonpath={range .items[?(@.spec.type=="LoadBalancer")]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}' \
    > "$workdir/services"
while read -r namespace service; do
    [ -n "$service" ] || continue
    echo "release: deleting Service $namespace/$service and its load balancer"
    kubectl --namespace "$namespace" delete service "$service" --wait=true \
        --timeout="${RELEASE_TIMEOUT}s"
done < "$workdir/services"

echo "release: deleting every PersistentVolumeClaim"
kubectl delete persistentvolumeclaims --all --all-namespaces --wait=true \
    --timeout="${RELEASE_TIMEOUT}s"

# A claim's volume is deleted asynchronously, by the CSI driver: wait until none is left.
deadline=$(( $(date +%s) + RELEASE_TIMEOUT ))
while :; do
    kubectl get persistentvolumes -o \
        'jsonpath={range .items[*]}{.spec.csi.driver}{"\n"}{end}' > "$workdir/volumes"
    remaining="$(grep -c -x "$CSI_DRIVER" "$workdir/volumes" || true)"
    [ "$remaining" -eq 0 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "release: $remaining $CSI_DRIVER volumes still exist after ${RELEASE_TIMEOUT} s;" \
            "$leftovers" >&2
        exit 1
    fi
    sleep "$interval"
done
echo "release: no load balancer or volume made by Kubernetes is left"
