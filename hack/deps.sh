#!/usr/bin/env bash
# Installs the Debian packages the local cluster and the tests need, once. Run as root (as on CI);
# otherwise it names what is missing and stops.
#   hack/deps.sh [extra-package ...]
set -euo pipefail
# prometheus (with promtool), redis-server and memcached: tests run real ones on loopback ports;
# python3 runs hack/restore-cache-snapshot.py in its test.
pkgs=(containerd runc containernetworking-plugins iptables nftables conntrack openssl iproute2 prometheus redis-server memcached python3 "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "hack/deps.sh: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 1
fi
echo "[deps] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list makes install fail; refresh it once when installing.
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's containerd package starts a system containerd where an init system runs; the local
# cluster runs its own instance on its own socket, so the packaged one is left alone.
echo "[deps] installed ${missing[*]}" >&2
