#!/bin/bash
# Installs what a Kubernetes node runs: containerd (systemd cgroups), kubelet, kubeadm and
# kubectl pinned to one Kubernetes version, the kernel modules and sysctls they need, swap off.
#
# One script for both paths: the Packer template runs it while baking the node image, and
# cncfdemo-install.service runs it at boot on a stock image (not where the image is prebuilt).
# Running it again changes nothing. Debian 12 or 13, as root.
#
# Settings (environment; the defaults are the upstream repositories):
#   KUBERNETES_VERSION      required, e.g. 1.35.3; packages are pinned to ${KUBERNETES_VERSION}-*
#   KUBERNETES_MINOR        default v<major.minor> of KUBERNETES_VERSION, e.g. v1.35
#   KUBERNETES_APT_REPO     default https://pkgs.k8s.io/core:/stable:/${KUBERNETES_MINOR}/deb/
#                           a flat repository (suite "/"); file:///some/dir/ works too
#   KUBERNETES_APT_KEY_URL  default ${KUBERNETES_APT_REPO}Release.key; set it empty to trust the
#                           repository unsigned (only for a local test repository)
#   CONTAINERD_APT_REPO     default https://download.docker.com/linux/debian (suite: the
#                           release's codename, component stable); empty: add no repository and
#                           take containerd from the ones already configured
#   CONTAINERD_APT_KEY_URL  default https://download.docker.com/linux/debian/gpg
#   CONTAINERD_PACKAGE      default containerd.io
#   CONTAINERD_VERSION      default 2.* (Kubernetes after 1.35 needs containerd 2)
#   NODE_IMAGE_PREBUILT     true when the stack expected a prebuilt image (only warns)
set -euo pipefail

: "${KUBERNETES_VERSION:?set KUBERNETES_VERSION, e.g. 1.35.3}"
KUBERNETES_MINOR="${KUBERNETES_MINOR:-v${KUBERNETES_VERSION%.*}}"
KUBERNETES_APT_REPO="${KUBERNETES_APT_REPO:-https://pkgs.k8s.io/core:/stable:/${KUBERNETES_MINOR}/deb/}"
KUBERNETES_APT_KEY_URL="${KUBERNETES_APT_KEY_URL-${KUBERNETES_APT_REPO}Release.key}"
CONTAINERD_APT_REPO="${CONTAINERD_APT_REPO-https://download.docker.com/linux/debian}"
CONTAINERD_APT_KEY_URL="${CONTAINERD_APT_KEY_URL-https://download.docker.com/linux/debian/gpg}"
CONTAINERD_PACKAGE="${CONTAINERD_PACKAGE:-containerd.io}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-2.*}"

KEYRINGS=/etc/apt/keyrings
export DEBIAN_FRONTEND=noninteractive

log() {
    echo "install-kubernetes: $*" >&2
}

# Writes an apt source; an empty key URL marks the repository trusted without a signature.
add_apt_source() {
    local name="$1" key_url="$2" line="$3" options
    if [ -n "$key_url" ]; then
        install -d -m 0755 "$KEYRINGS"
        # apt reads an ASCII-armoured key directly when the file ends in .asc: no gpg needed.
        curl --fail --silent --show-error --location --retry 5 "$key_url" \
            --output "$KEYRINGS/$name.asc"
        options="signed-by=$KEYRINGS/$name.asc"
    else
        log "WARNING: $name repository is trusted without a signature"
        options="trusted=yes"
    fi
    echo "deb [$options] $line" >"/etc/apt/sources.list.d/$name.list"
}

install_prerequisites() {
    local missing=()
    command -v curl >/dev/null || missing+=(curl)
    [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

configure_kernel() {
    printf '%s\n' overlay br_netfilter >/etc/modules-load.d/kubernetes.conf
    modprobe overlay
    modprobe br_netfilter
    cat >/etc/sysctl.d/90-kubernetes.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
EOF
    sysctl --system >/dev/null
}

# The kubelet refuses to start with swap on unless told otherwise; kubeadm's preflight agrees.
disable_swap() {
    swapoff -a
    sed -i -E 's@^([^#].*[[:space:]]swap[[:space:]].*)$@# \1@' /etc/fstab
}

install_packages() {
    local codename
    codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
    add_apt_source kubernetes "$KUBERNETES_APT_KEY_URL" "$KUBERNETES_APT_REPO /"
    if [ -n "$CONTAINERD_APT_REPO" ]; then
        add_apt_source containerd "$CONTAINERD_APT_KEY_URL" "$CONTAINERD_APT_REPO $codename stable"
    fi
    apt-get update -q
    apt-mark unhold kubelet kubeadm kubectl "$CONTAINERD_PACKAGE" >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends \
        "$CONTAINERD_PACKAGE=$CONTAINERD_VERSION" \
        "kubelet=$KUBERNETES_VERSION-*" \
        "kubeadm=$KUBERNETES_VERSION-*" \
        "kubectl=$KUBERNETES_VERSION-*"
    apt-mark hold kubelet kubeadm kubectl "$CONTAINERD_PACKAGE"
}

# containerd's packaged config disables the CRI plugin; start from the full default instead and
# switch runc to the systemd cgroup driver, which kubeadm configures the kubelet to use.
configure_containerd() {
    install -d -m 0755 /etc/containerd
    containerd config default >/etc/containerd/config.toml.new
    sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml.new
    if ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml.new; then
        log "containerd's default config has no SystemdCgroup setting to turn on"
        exit 1
    fi
    mv /etc/containerd/config.toml.new /etc/containerd/config.toml
    systemctl enable containerd kubelet
    systemctl restart containerd
}

if [ "${NODE_IMAGE_PREBUILT:-false}" = true ]; then
    log "WARNING: cncfdemo:nodeImage is set, but this image has no /etc/cncfdemo/image-prebuilt" \
        "(not built by packer/node-image.pkr.hcl?); installing at boot instead"
fi
log "installing Kubernetes $KUBERNETES_VERSION from $KUBERNETES_APT_REPO"
install_prerequisites
configure_kernel
disable_swap
install_packages
configure_containerd
log "installed: $(kubeadm version -o short)"
