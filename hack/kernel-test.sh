#!/usr/bin/env bash
# Runs the tests of test/kernel (build tag "kernel") on Debian's stock kernel in QEMU: this
# machine's own kernel has no sch_netem and cannot load modules, and there is no /dev/kvm, so the
# guest runs under software emulation (TCG).
#
#   hack/kernel-test.sh            (make test-kernel)
#
# Steps: install qemu-system-x86 if missing (as root); fetch the kernel package linux-image-amd64
# depends on with apt-get download and unpack it with dpkg-deb (never installed), keeping only the
# ELF vmlinux and the needed modules under $FIREDRILL_CACHE/kernel/<package>_<version>/; build the
# tests as a static binary and an initramfs with it as /init; boot; stream the guest's console
# prefixed with "guest| ". It exits 0 only if QEMU's exit status is the guest's pass code (through
# isa-debug-exit) and the guest printed its PASS marker.
#
# Environment:
#   KERNEL_TEST_RUN      regexp for the guest's -test.run (default: all tests)
#   KERNEL_TEST_TIMEOUT  seconds the VM may run before it is killed (default 150)
#   FIREDRILL_CACHE      cache root (default ~/.cache/firedrill)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}/kernel"
TIMEOUT="${KERNEL_TEST_TIMEOUT:-150}"
# Loaded in this order by the guest: a module after those it depends on (pvpanic-mmio needs
# pvpanic). pvpanic-mmio drives QEMU's ISA pvpanic device, so a guest panic ends QEMU with a
# failure status; the rest is what internal/agent/netfault builds its trees from.
MODULES=(pvpanic pvpanic-mmio veth ifb sch_netem sch_htb sch_tbf sch_prio sch_ingress cls_u32 act_mirred act_gact)
# QEMU's exit status is (code<<1)|1 for a code the guest writes to isa-debug-exit; the codes are
# in test/kernel/init_test.go (exitPass, exitFail).
STATUS_PASS=99
STATUS_FAIL=3
MARKER_PASS="FIREDRILL-KERNEL-RESULT PASS"

log() { echo "[kernel-test] $*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    die "missing Debian packages: $* (run as root, or apt-get install them)"
  fi
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  local out
  # Quiet unless it fails (debconf chatters on stderr even when all is well).
  out=$( (apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@") 2>&1) || {
    echo "$out" >&2
    die "apt-get install $* failed"
  }
}

ensure_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v timeout >/dev/null || missing+=(coreutils)
  [[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"
}

# kernel_package prints the name of the package linux-image-amd64 depends on
# (linux-image-<abi>-amd64); empty when apt knows no such package.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# cache_complete DIR: the cache DIR holds a kernel and every module in MODULES.
cache_complete() {
  local m
  [[ -f "$1/.complete" && -s "$1/kernel" ]] || return 1
  for m in "${MODULES[@]}"; do [[ -f "$1/modules/$m.ko" ]] || return 1; done
}

# fetch_kernel DIR PACKAGE: download PACKAGE and keep its vmlinux and modules in DIR.
fetch_kernel() {
  local dir=$1 pkg=$2 tmp deb vmlinuz release off m src
  local start=$SECONDS
  rm -rf "$dir"
  mkdir -p "$dir/modules"
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  # resolve_kernel runs in a command substitution, so this subshell's EXIT is the end of the fetch,
  # failed or not: the unpacked package (~400 MB) never stays behind.
  trap "rm -rf ${tmp@Q}" EXIT # expanded now: tmp is local and gone by then
  # apt-get download writes into the current directory; as root it warns that it downloads
  # unsandboxed, which is harmless here.
  (cd "$tmp" && apt-get download -qq "$pkg" >"$tmp/apt.log" 2>&1) || {
    cat "$tmp/apt.log" >&2
    die "apt-get download $pkg failed"
  }
  deb=$(echo "$tmp"/*.deb)
  dpkg-deb -x "$deb" "$tmp/x"
  vmlinuz=$(echo "$tmp"/x/boot/vmlinuz-*)
  release=$(basename "$(echo "$tmp"/x/lib/modules/*)")
  [[ -f "$vmlinuz" && -d "$tmp/x/lib/modules/$release" ]] || die "$deb holds no vmlinuz or modules"
  echo "$release" >"$dir/release"

  # The ELF vmlinux inside the bzImage boots about 3 s faster under TCG than the bzImage (no
  # decompressor run in emulation). It is the XZ stream that starts at the first XZ magic (the
  # kernel's scripts/extract-vmlinux does the same); the bytes after the stream are ignored.
  off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | awk -F: 'NR == 1 { print $1 }' || true)
  # Through a file rather than a pipe: xz stops reading at the end of the stream, and the
  # SIGPIPE that would give tail fails the pipeline under pipefail.
  if [[ -n "$off" ]] && tail -c "+$((off + 1))" "$vmlinuz" >"$tmp/payload" &&
    xz -dc --single-stream <"$tmp/payload" >"$dir/kernel" 2>/dev/null &&
    cmp -s -n 4 <(printf '\177ELF') "$dir/kernel"; then
    log "extracted the ELF vmlinux from $(basename "$vmlinuz")"
  else
    log "no XZ-compressed vmlinux in $(basename "$vmlinuz"); booting the bzImage itself (slower)"
    cp "$vmlinuz" "$dir/kernel"
  fi

  for m in "${MODULES[@]}"; do
    src=$(find "$tmp/x/lib/modules/$release/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -n1)
    [[ -n "$src" ]] || die "module $m not found in $pkg"
    case "$src" in
      *.xz) xz -dc "$src" >"$dir/modules/$m.ko" ;;
      *) cp "$src" "$dir/modules/$m.ko" ;;
    esac
  done
  touch "$dir/.complete"
  log "cached $pkg ($release) in $dir in $((SECONDS - start)) s"
}

# resolve_kernel prints the cache directory of the kernel to boot, fetching it when needed. An
# existing cache is used as is when apt cannot name the package (no package lists, no network).
resolve_kernel() {
  local pkg version dir newest
  pkg=$(kernel_package)
  if [[ -z "$pkg" && $(id -u) -eq 0 ]]; then
    # A fresh machine has no package lists yet.
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(kernel_package)
  fi
  if [[ -n "$pkg" ]]; then
    version=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
    dir="$CACHE/${pkg}_${version}"
    if cache_complete "$dir"; then
      echo "$dir"
      return
    fi
    fetch_kernel "$dir" "$pkg"
    echo "$dir"
    return
  fi
  newest=$(ls -1dt "$CACHE"/linux-image-*/ 2>/dev/null | head -n1 || true)
  if [[ -n "$newest" ]] && cache_complete "${newest%/}"; then
    log "apt names no kernel package; using the cached ${newest%/}"
    echo "${newest%/}"
    return
  fi
  die "cannot resolve the kernel package linux-image-amd64 depends on (apt-get update?) and nothing is cached in $CACHE"
}

ensure_tools
mkdir -p "$CACHE"
# Two runs filling the cache at once would remove each other's files.
exec 9>"$CACHE/.lock"
flock 9
KDIR=$(resolve_kernel)
flock -u 9
log "kernel $(cat "$KDIR/release") from $KDIR"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
build_start=$SECONDS
(cd "$ROOT" && CGO_ENABLED=0 go test -c -tags kernel -trimpath -o "$WORK/init" ./test/kernel)
modules=()
for m in "${MODULES[@]}"; do modules+=("$KDIR/modules/$m.ko"); done
(cd "$ROOT" && go run ./test/kernel/initramfs -o "$WORK/initramfs.cpio" -init "$WORK/init" "${modules[@]}")
log "built the test binary and initramfs ($(($(stat -c %s "$WORK/initramfs.cpio") / 1024)) KiB) in $((SECONDS - build_start)) s"

# Everything after "--" on the kernel command line is passed to /init as arguments. The guest's
# test timeout is shorter than the VM's, so a hung test panics with its stacks on the console
# before the VM is killed.
guest_args=(-test.v "-test.timeout=$((TIMEOUT > 30 ? TIMEOUT - 20 : TIMEOUT))s")
[[ -z "${KERNEL_TEST_RUN:-}" ]] || guest_args+=("-test.run=$KERNEL_TEST_RUN")
append="console=ttyS0 panic=-1 quiet -- ${guest_args[*]}"

log "booting (TCG, timeout ${TIMEOUT}s): $append"
boot_start=$(date +%s%N)
set +e
# -no-reboot turns the reboot after a panic (panic=-1) into an exit with status 0, and a guest
# that powers off exits 0 too: success is only ever the pass code written to isa-debug-exit.
# pvpanic with -action panic=exit-failure makes a guest panic status 1.
# The braces hold a subshell of their own so that bash's "Killed" notice for a timed-out QEMU goes
# to /dev/null rather than into the middle of the output; QEMU's own stderr is kept.
{
  timeout -s KILL "$TIMEOUT" qemu-system-x86_64 \
    -M pc -accel tcg -cpu max -m 512 -nodefaults -display none -serial stdio -no-reboot \
    -kernel "$KDIR/kernel" -initrd "$WORK/initramfs.cpio" -append "$append" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -device pvpanic -action panic=exit-failure \
    </dev/null 2>"$WORK/qemu.err"
  exit $?
} 2>/dev/null |
  sed -u 's/\r//g' | tee "$WORK/console.log" | sed -u 's/^/guest| /'
status=${PIPESTATUS[0]}
set -e
elapsed=$((($(date +%s%N) - boot_start) / 1000000))
printf -v took '%d.%01d s' $((elapsed / 1000)) $((elapsed % 1000 / 100))
if [[ -s "$WORK/qemu.err" ]]; then
  sed 's/^/qemu| /' "$WORK/qemu.err" >&2
fi

# Top-level results only (subtests are indented).
passed=$(grep -c '^--- PASS: ' "$WORK/console.log" || true)
failed=$(grep -c '^--- FAIL: ' "$WORK/console.log" || true)
marker=no
grep -qx "$MARKER_PASS" "$WORK/console.log" && marker=yes
log "boot+test wall time $took (QEMU exit status $status)"

problem=
case "$status" in
  "$STATUS_PASS")
    if [[ $marker != yes ]]; then
      problem="the guest wrote the pass code but printed no '$MARKER_PASS' line"
    elif [[ $failed -ne 0 || $passed -eq 0 ]]; then
      problem="the guest reported a pass but $passed tests passed and $failed failed (KERNEL_TEST_RUN=${KERNEL_TEST_RUN:-})"
    fi
    ;;
  "$STATUS_FAIL") problem="guest tests failed (see the guest| lines above)" ;;
  0) problem="the guest stopped without reporting (a panic without pvpanic, a poweroff, or a triple fault)" ;;
  1)
    # A guest panic (through pvpanic) or QEMU's own failure: the console tells which.
    if kpanic=$(grep -m1 -o 'Kernel panic - not syncing.*' "$WORK/console.log"); then
      problem="the guest kernel panicked: $kpanic"
      # Init (the test binary) dying is the usual cause: name its panic too.
      if gopanic=$(grep -m1 '^panic: ' "$WORK/console.log"); then problem+="; init: $gopanic"; fi
    else
      problem="QEMU exited with status 1 and the guest printed no panic (see the qemu| lines)"
    fi
    ;;
  137) problem="timed out: the VM was killed after ${TIMEOUT}s" ;;
  *) problem="unexpected QEMU exit status $status" ;;
esac
[[ -z "$problem" ]] || log "FAIL: $problem"
echo "test-kernel: $passed passed, $failed failed"
[[ -z "$problem" ]]
