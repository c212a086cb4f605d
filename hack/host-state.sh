#!/usr/bin/env bash
# Prints what the local cluster can leave on this host: its processes, mounts, network namespaces,
# interfaces, addresses, routes, iptables/nftables state, pod cgroups and the sysctls it touches.
# Two runs with nothing started in between print the same text; the e2e suite compares a run
# before `cluster.sh up` with one after `cluster.sh down`.
set -uo pipefail
# The cluster's own processes name its state or socket directories in their arguments; container
# processes live in the pod cgroups listed below (a survivor keeps its cgroup from being removed).
# Other etcd or apiserver processes on the host (envtest's) are not the cluster's and are not listed.
cache="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}"
echo "## processes"; ps -eo comm=,args= | awk -v a="$cache/cluster" -v b="/run/firedrill" '$1 != "awk" && (index($0,a) || index($0,b)) {print $1}' | sort | uniq -c
echo "## mounts"; awk '{print $5, $9}' /proc/self/mountinfo | sort
echo "## netns"; ip netns list 2>/dev/null; ls /run/netns 2>/dev/null
echo "## links"; ip -o link | awk -F': ' '{print $2}' | sort
echo "## addresses"; ip -o addr | awk '{print $2, $4}' | sort
echo "## routes"; ip route show table all | sort
echo "## iptables"; iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//'
echo "## ip6tables"; ip6tables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//'
echo "## nftables"; nft list tables 2>/dev/null
echo "## cgroups"; find /sys/fs/cgroup -maxdepth 2 -type d -name 'kube*' | sort
# The same list cluster.sh saves on up and restores on down.
echo "## sysctls"; sysctl $("$(dirname "${BASH_SOURCE[0]}")/cluster.sh" sysctls) 2>/dev/null
exit 0
