#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, from the source-built binaries:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy, with
# Debian's containerd, runc and the bridge CNI plugin.
#
#   hack/cluster.sh up       bring it up (idempotent) and print how to use it
#   hack/cluster.sh down     stop it and remove every process, mount, netns, interface, route and
#                            iptables chain it made, and restore the sysctls it changed
#   hack/cluster.sh status   exit 0 when it is up and the node is Ready
#   hack/cluster.sh kubeconfig   print the kubeconfig path
#   hack/cluster.sh sysctls      print the sysctls it saves and restores
#
# Every address stays on this machine: the node IP is a /32 on lo, the pod CIDR sits on the
# fdbr0 bridge, the service CIDR is routed to that bridge, pods get no DNS server, and a FORWARD
# rule drops anything from the bridge that would leave through another interface.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}"
DIR="$CACHE/cluster"                 # certs, configs, etcd data, kubelet root, logs
RUN=/run/firedrill                   # sockets and containerd state
NODE_NAME=firedrill-node
NODE_IP=10.231.0.1
POD_CIDR=10.244.0.0/16
POD_GW=10.244.0.1
SVC_CIDR=10.96.0.0/16
SVC_IP=10.96.0.1
BRIDGE=fdbr0
ETCD_CLIENT=127.0.0.1:12379
ETCD_PEER=127.0.0.1:12380
GUARD_CHAIN=FIREDRILL-GUARD
KUBECONFIG_OUT="$DIR/kubeconfig"
CTR_SOCK="$RUN/containerd/containerd.sock"
# sysctls the kubelet, kube-proxy or this script change; saved on first up, restored on down.
SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.bridge.bridge-nf-call-ip6tables vm.overcommit_memory vm.panic_on_oom kernel.panic
  kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

log() { echo "[cluster] $*" >&2; }
die() { echo "[cluster] error: $*" >&2; exit 1; }

bin_dir() { "$HERE/k8s-binaries.sh" 2>/dev/null; }

# running: the process exists and is not a zombie waiting to be reaped.
running() { [[ -e /proc/$1 && "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
pid_alive() { [[ -f "$DIR/pids/$1" ]] && running "$(cat "$DIR/pids/$1")"; }

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

start() { # name cmd...
  local name=$1; shift
  mkdir -p "$DIR/pids" "$DIR/logs"
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name"
}

wait_for() { # description timeout-seconds command...
  local what=$1 t=$2; shift 2
  local deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${t}s waiting for $what; last log lines:"
      for c in "${COMPONENTS[@]}"; do [[ -f "$DIR/logs/$c.log" ]] && { echo "--- $c" >&2; tail -n 15 "$DIR/logs/$c.log" >&2; }; done
      return 1
    fi
    sleep 0.2
  done
}

status() {
  for c in "${COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
  [[ -n ${BIN:-} ]] || BIN=$(bin_dir)
  kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

# ---------------------------------------------------------------------------------------------
# certificates and kubeconfigs

cert() { # name subject [san] [eku]
  local name=$1 subj=$2 san=${3:-} eku=${4:-clientAuth}
  local ext="$DIR/pki/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/pki/$name.key" 2>/dev/null
  openssl req -new -key "$DIR/pki/$name.key" -subj "$subj" -out "$DIR/pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$DIR/pki/$name.csr" -CA "$DIR/pki/ca.crt" -CAkey "$DIR/pki/ca.key" \
    -CAcreateserial -days 30 -extfile "$ext" -out "$DIR/pki/$name.crt" 2>/dev/null
  rm -f "$DIR/pki/$name.csr" "$ext"
}

kubeconfig() { # file cert-name
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: firedrill-local
  cluster:
    certificate-authority: $DIR/pki/ca.crt
    server: https://$NODE_IP:6443
users:
- name: $2
  user:
    client-certificate: $DIR/pki/$2.crt
    client-key: $DIR/pki/$2.key
contexts:
- name: firedrill-local
  context: {cluster: firedrill-local, user: $2}
current-context: firedrill-local
KC
}

make_pki() {
  mkdir -p "$DIR/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$DIR/pki/ca.key" -subj "/CN=firedrill-local-ca" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$DIR/pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:$SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert admin "/O=system:masters/CN=firedrill-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  cert kubelet-serving "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME" serverAuth
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/pki/sa.key" 2>/dev/null
  openssl ec -in "$DIR/pki/sa.key" -pubout -out "$DIR/pki/sa.pub" 2>/dev/null
  for u in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$DIR/$u.kubeconfig" "$u"; done
  cp "$DIR/admin.kubeconfig" "$KUBECONFIG_OUT"
}

# ---------------------------------------------------------------------------------------------
# host network

setup_network() {
  mkdir -p "$DIR"
  if [[ ! -f "$DIR/sysctl.saved" ]]; then
    for s in "${SYSCTLS[@]}"; do v=$(sysctl -n "$s" 2>/dev/null) && echo "$s=$v"; done >"$DIR/sysctl.saved"
    nft list tables 2>/dev/null >"$DIR/nft-tables.saved" || true
  fi
  ip addr replace "$NODE_IP/32" dev lo
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$POD_GW/16" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Service IPs are DNAT'd by kube-proxy; route them to the bridge so a host-originated
  # connection never picks the default route, even with kube-proxy down.
  ip route replace "$SVC_CIDR" dev "$BRIDGE"
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # Pods may talk to each other, to services and to this host, never off the machine.
  iptables -w -N "$GUARD_CHAIN" 2>/dev/null || iptables -w -F "$GUARD_CHAIN"
  iptables -w -A "$GUARD_CHAIN" -i "$BRIDGE" -o "$BRIDGE" -j RETURN
  iptables -w -A "$GUARD_CHAIN" -i "$BRIDGE" -j DROP
  iptables -w -A "$GUARD_CHAIN" -o "$BRIDGE" ! -i "$BRIDGE" ! -s "$NODE_IP" -j DROP
  iptables -w -C FORWARD -j "$GUARD_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$GUARD_CHAIN"
}

# ---------------------------------------------------------------------------------------------
# configs

write_configs() {
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam" "$RUN/containerd" "$DIR/containerd"
  cat >"$DIR/cni/net.d/10-firedrill.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "firedrill",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
JSON
  cat >"$DIR/containerd/config.toml" <<TOML
version = 2
root = "$DIR/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "firedrill.dev/pause:dev"
  # This VM lacks CAP_SYS_RESOURCE: without it every sandbox fails with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
TOML
  cat >"$DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $DIR/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$CTR_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# No DNS server for pods: the host's resolver is off this machine.
resolvConf: ""
# Our images are imported, never pulled: never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
maxPods: 110
YAML
  cat >"$DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack limits alone.
conntrack: {maxPerCore: 0}
iptables:
  # Masquerade service traffic so replies from a pod on the same bridge come back through the
  # host, and keep route_localnet off.
  masqueradeAll: true
  localhostNodePorts: false
YAML
}

# ---------------------------------------------------------------------------------------------

up() {
  if status; then
    log "already up (node $NODE_NAME Ready)"
    print_usage
    return 0
  fi
  local t0=$SECONDS t0ms
  t0ms=$(date +%s%3N)
  BIN=$(bin_dir) || die "could not build the Kubernetes binaries (hack/k8s-binaries.sh)"
  if [[ -d "$DIR/pids" ]]; then
    log "a previous cluster is partly up; tearing it down first"
    down
  fi
  for c in containerd runc iptables; do command -v $c >/dev/null || die "$c is missing: run hack/deps.sh"; done
  [[ -x /usr/lib/cni/bridge ]] || die "/usr/lib/cni/bridge is missing: run hack/deps.sh"
  mkdir -p "$DIR"
  make_pki
  setup_network
  write_configs

  start etcd "$BIN/etcd" --name firedrill --data-dir "$DIR/etcd" \
    --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
    --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
    --initial-cluster "firedrill=http://$ETCD_PEER" --unsafe-no-fsync --quota-backend-bytes=8589934592 \
    --listen-metrics-urls "" --log-level warn
  start containerd containerd --config "$DIR/containerd/config.toml"
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://$ETCD_CLIENT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SVC_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$DIR/pki/ca.crt" --tls-cert-file "$DIR/pki/apiserver.crt" --tls-private-key-file "$DIR/pki/apiserver.key" \
    --kubelet-client-certificate "$DIR/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$DIR/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$DIR/pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$DIR/pki/sa.pub" --service-account-signing-key-file "$DIR/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 90 kc get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$DIR/pki/sa.key" --root-ca-file "$DIR/pki/ca.crt" \
    --cluster-signing-cert-file "$DIR/pki/ca.crt" --cluster-signing-key-file "$DIR/pki/ca.key" \
    --profiling=false --v=1
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DIR/scheduler.kubeconfig" --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
  wait_for "containerd" 30 ctr --address "$CTR_SOCK" version
  "$HERE/images.sh" --pause-only
  start kubelet "$BIN/kubelet" --config "$DIR/kubelet.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --root-dir "$DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "topology.kubernetes.io/zone=${FIREDRILL_ZONE:-zone-a}" --v=1
  start kube-proxy "$BIN/kube-proxy" --config "$DIR/kube-proxy.yaml" --v=1
  wait_for "node $NODE_NAME Ready" 120 status
  wait_for "the default ServiceAccount" 60 kc -n default get serviceaccount default
  local ms=$(( $(date +%s%3N) - t0ms ))
  echo "$ms" >"$DIR/bringup-ms"
  log "cluster up in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
  print_usage
}

print_usage() {
  cat >&2 <<MSG
[cluster] kubeconfig: $KUBECONFIG_OUT
[cluster]   export KUBECONFIG=$KUBECONFIG_OUT
[cluster]   kubectl get nodes      # kubectl from $(bin_dir)
[cluster] tear down with: make cluster-down
MSG
}

# ---------------------------------------------------------------------------------------------

# Stops components together: SIGTERM to all, up to 5 s for them to exit, then SIGKILL; returns
# once every process is gone from the process table (reaped), not merely signalled.
stop_pids() { # name...
  local n p pids=()
  for n in "$@"; do
    [[ -f "$DIR/pids/$n" ]] || continue
    pids+=("$(cat "$DIR/pids/$n")")
    rm -f "$DIR/pids/$n"
  done
  [[ ${#pids[@]} -gt 0 ]] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 5))
  for p in "${pids[@]}"; do
    while running "$p" && ((SECONDS < deadline)); do sleep 0.05; done
    running "$p" && kill -KILL "$p" 2>/dev/null || true
  done
  deadline=$((SECONDS + 10))
  for p in "${pids[@]}"; do
    while [[ -e /proc/$p ]] && ((SECONDS < deadline)); do sleep 0.05; done
    [[ -e /proc/$p ]] && log "warning: process $p has not been reaped"
  done
  return 0
}

down() {
  log "tearing down"
  # The kubelet first, so it does not restart what we are removing.
  stop_pids kubelet kube-proxy
  # Every container and sandbox process lives in the kubelet's pod cgroups: kill them there (one
  # pass, where asking containerd task by task takes seconds), then containerd and its shims.
  kill_cgroup_procs
  stop_pids kube-scheduler kube-controller-manager kube-apiserver containerd
  # etcd last: an apiserver whose etcd is gone spends its shutdown retrying it.
  stop_pids etcd
  # Shims and container processes that outlived containerd.
  pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io -address $CTR_SOCK" 2>/dev/null || true
  kill_cgroup_procs
  sleep 0.2
  # Mounts: kubelet volumes, container rootfs, sandbox shm, pod netns bind mounts.
  findmnt -rn -o TARGET | awk -v a="$DIR/" -v b="$RUN/" 'index($0,a)==1 || index($0,b)==1' | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do ip netns delete "$ns" 2>/dev/null || true; done
  # Network: bridge, veths (gone with their netns or bridge), routes, the node IP, iptables.
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | while read -r v; do
    [[ "$(cat /sys/class/net/$v/master/uevent 2>/dev/null)" == *"INTERFACE=$BRIDGE"* ]] && ip link delete "$v" || true
  done
  ip route del "$SVC_CIDR" 2>/dev/null || true
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
  clean_iptables iptables
  clean_iptables ip6tables
  for t in $(nft list tables 2>/dev/null | awk '$3 ~ /^kube-proxy$/ {print $2" "$3}' | tr ' ' ':'); do
    nft delete table "${t%%:*}" "${t##*:}" 2>/dev/null || true
  done
  remove_empty_tables
  remove_cgroups
  if [[ -f "$DIR/sysctl.saved" ]]; then
    while IFS='=' read -r k v; do sysctl -qw "$k=$v" 2>/dev/null || true; done <"$DIR/sysctl.saved"
  fi
  # Keep the logs of the last cluster for debugging; everything else goes.
  if [[ -d "$DIR" ]]; then
    rm -rf "$CACHE/cluster-logs" && { [[ -d "$DIR/logs" ]] && mv "$DIR/logs" "$CACHE/cluster-logs" || true; }
    rm -rf "$DIR"
  fi
  rm -rf "$RUN"
  log "down"
}

# iptables-nft creates the filter/nat/mangle tables on first use. Remove those that did not exist
# before the cluster and now hold no rule.
remove_empty_tables() {
  [[ -f "$DIR/nft-tables.saved" ]] && command -v nft >/dev/null || return 0
  local fam name
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qx "table $fam $name" "$DIR/nft-tables.saved" && continue
    nft list table "$fam" "$name" 2>/dev/null | grep -qvE '^[[:space:]]*(table |chain |type |}|$)' && continue
    nft delete table "$fam" "$name" 2>/dev/null || true
  done
}

# Processes still in the kubelet's pod cgroups (a container whose shim died first).
kill_cgroup_procs() {
  local f
  for f in $(find /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* -name cgroup.procs 2>/dev/null); do
    { xargs -r kill -KILL <"$f"; } 2>/dev/null || true
  done
}

remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kube-proxy /sys/fs/cgroup/*/kubelet; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# Drop every chain Kubernetes, CNI or this script made, and every rule that jumps to one, from
# every table, leaving all other rules as they were.
clean_iptables() {
  local cmd=$1 save restore
  command -v "$cmd" >/dev/null || return 0
  save="$cmd-save"; restore="$cmd-restore"
  local dump; dump=$("$save" 2>/dev/null) || return 0
  grep -qE 'KUBE-|CNI-|FIREDRILL-' <<<"$dump" || return 0
  grep -vE 'KUBE-|CNI-|FIREDRILL-' <<<"$dump" | "$restore" -w
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kubeconfig) echo "$KUBECONFIG_OUT" ;;
  sysctls) printf '%s\n' "${SYSCTLS[@]}" ;;
  *) echo "usage: $0 up|down|status|kubeconfig|sysctls" >&2; exit 2 ;;
esac
