# The cncfdemo node image: a stock Debian image with containerd, kubelet, kubeadm and kubectl
# installed by the same script cloud-init runs on a stock image (cloud_init/scripts/), so both
# paths stay one. Nodes booted from it skip the install at boot (/etc/cncfdemo/image-prebuilt).
#
#   packer build -var kubernetes_version=1.35.3 -var region=us-east-1 packer/node-image.pkr.hcl
#   pulumi config set cncfdemo:nodeImage <the AMI id it prints>
#
# No required_plugins block: Debian's packer (1.6.6) still bundles the amazon builder and rejects
# the block. With a newer packer, `packer plugins install github.com/hashicorp/amazon` first.

variable "kubernetes_version" {
  type        = string
  default     = "1.35.3"
  description = "Kubernetes packages to install, major.minor.patch (cncfdemo:kubernetesVersion)."
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region to build in; the image is registered there (aws:region)."
}

variable "instance_type" {
  type        = string
  default     = "t3.medium"
  description = "Machine the build runs on."
}

variable "architecture" {
  type        = string
  default     = "x86_64"
  description = "x86_64 or arm64; must match the nodes' machine types (cncfdemo:masterSize, minionSize)."
}

variable "debian_release" {
  type        = string
  default     = "12"
  description = "Official Debian release to start from; the stack's stock image is Debian 12 too."
}

variable "source_image_owner" {
  type        = string
  default     = "136693071363"
  description = "AWS account publishing the official Debian images."
}

locals {
  build_time = formatdate("YYYYMMDD-hhmmss", timestamp())
  # Debian names its images by its own architecture names (debian-12-amd64-20260101-1234)
  debian_arch = var.architecture == "arm64" ? "arm64" : "amd64"
  # the install script sits with the cloud-init files; the image runs the very same file
  install_script = "${path.root}/../cloud_init/scripts/install-kubernetes.sh"
}

source "amazon-ebs" "node" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "admin"

  source_ami_filter {
    filters = {
      name                = "debian-${var.debian_release}-${local.debian_arch}-*"
      architecture        = var.architecture
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_image_owner]
    most_recent = true
  }

  ami_name        = "cncfdemo-node-k8s-${var.kubernetes_version}-${local.build_time}"
  ami_description = "cncfdemo node: containerd, kubelet and kubeadm ${var.kubernetes_version} on Debian"

  # The nodes' launch template requires IMDSv2 with hop limit 1. The build instance cannot:
  # packer 1.6.6's amazon builder has no metadata_options block; it lives only for the build.

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  tags = {
    Name              = "cncfdemo-node-k8s-${var.kubernetes_version}"
    KubernetesVersion = var.kubernetes_version
    BuiltBy           = "cncfdemo packer/node-image.pkr.hcl"
  }
}

build {
  sources = ["source.amazon-ebs.node"]

  provisioner "file" {
    source      = local.install_script
    destination = "/tmp/install-kubernetes.sh"
  }

  provisioner "shell" {
    environment_vars = ["KUBERNETES_VERSION=${var.kubernetes_version}"]
    execute_command  = "sudo -E sh -c '{{ .Vars }} {{ .Path }}'"
    inline = [
      "install -D -m 0755 /tmp/install-kubernetes.sh /usr/local/lib/cncfdemo/install-kubernetes.sh",
      "/usr/local/lib/cncfdemo/install-kubernetes.sh",
      # tells cncfdemo-install.service at boot that there is nothing left to install
      "install -d -m 0755 /etc/cncfdemo",
      "touch /etc/cncfdemo/image-prebuilt",
    ]
  }
}
