#!/bin/sh
# Builds the eBPF part of the addon, called by binding.gyp.
#   build-bpf.sh check      prints 1 when this machine can build it, else 0 (and says why on stderr);
#                           CRI_REBALANCER_NO_BPF=1 leaves eBPF out on purpose
#   build-bpf.sh OUT_DIR    writes OUT_DIR/vmlinux.h, numa_events.bpf.o and numa_events.skel.h
set -eu
here=$(dirname "$0")
btf=/sys/kernel/btf/vmlinux

if [ "${1:-}" = check ]; then
  if [ -n "${CRI_REBALANCER_NO_BPF:-}" ]; then
    echo "cri-rebalancer: building the addon WITHOUT eBPF (CRI_REBALANCER_NO_BPF is set)" >&2
    echo 0
    exit 0
  fi
  missing=""
  for tool in clang bpftool; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
  [ -f /usr/include/bpf/libbpf.h ] || missing="$missing libbpf-dev"
  if [ -n "$missing" ]; then
    echo "cri-rebalancer: building the addon WITHOUT eBPF (missing:$missing); install them (apt-get install libbpf-dev clang bpftool) and run npm rebuild" >&2
    echo 0
  elif [ ! -r "$btf" ]; then
    echo "cri-rebalancer: building the addon WITHOUT eBPF ($btf is missing: the kernel has no BTF)" >&2
    echo 0
  else
    echo 1
  fi
  exit 0
fi

out=$1
mkdir -p "$out"
case $(uname -m) in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
bpftool btf dump file "$btf" format c > "$out/vmlinux.h"
clang -target bpf -D__TARGET_ARCH_$arch -g -O2 -I"$out" -I"$here" \
  -c "$here/numa_events.bpf.c" -o "$out/numa_events.bpf.o"
bpftool gen skeleton "$out/numa_events.bpf.o" name numa_events_bpf > "$out/numa_events.skel.h"
