#!/usr/bin/env bash
# Proof on 64-bit ARM without a board: an emulated arm64 Debian 12 root (debootstrap +
# qemu-user-static) runs the real aarch64 wheels. The host prepares the artifacts
# (edgebench prepare); the emulated system runs a quick SingleStream MobileNetV2 on
# onnxruntime and tflite at FP32 and INT8 static from them, LoadGen built from source.
# Results are marked "emulated": their timings mean nothing. Ends with a one-line verdict.
#
#   make arm-smoke            (or: sudo scripts/arm-smoke.sh)
#
# The root and the LoadGen wheel are cached in $ARM_ROOT (default
# ~/.cache/edgebench/arm64-bookworm): a second run skips debootstrap and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
ARM_ROOT=${ARM_ROOT:-$HOME/.cache/edgebench/arm64-bookworm}
OUT=${ARM_SMOKE_RESULTS:-$PROJECT/results/arm-smoke-$(date -u +%Y%m%dT%H%M%S)}
HOST_PY=$PROJECT/.venv/bin/python
started=$(date +%s)
say() { echo "arm-smoke: $*" >&2; }

if [ "$(id -u)" != 0 ]; then say "needs root (debootstrap, chroot, mounts): sudo $0"; exit 2; fi
[ -x "$HOST_PY" ] || { say "run 'make install' first (the host prepares the artifacts)"; exit 2; }

# 1. qemu-user-static and debootstrap from Debian's packages; binfmt_misc for arm64
if ! command -v debootstrap >/dev/null || ! [ -e /usr/bin/qemu-aarch64-static ]; then
    say "installing qemu-user-static debootstrap binfmt-support"
    apt-get install -y -q qemu-user-static debootstrap binfmt-support >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true

# 2. the arm64 root, once
if [ ! -e "$ARM_ROOT/.complete" ]; then
    say "debootstrap arm64 bookworm into $ARM_ROOT (about 3 minutes)"
    rm -rf "$ARM_ROOT"
    mkdir -p "$ARM_ROOT"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-pip,python3-dev,g++,ca-certificates \
        bookworm "$ARM_ROOT" http://deb.debian.org/debian >/dev/null
    touch "$ARM_ROOT/.complete"
fi

# 3. what pip needs inside: the host's certificates, resolver and pip settings
cp /etc/ssl/certs/ca-certificates.crt "$ARM_ROOT/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$ARM_ROOT/etc/resolv.conf"
[ -e /etc/pip.conf ] && cp /etc/pip.conf "$ARM_ROOT/etc/pip.conf"
cleanup() { for m in dev proc; do umount -l "$ARM_ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
for m in proc dev; do mountpoint -q "$ARM_ROOT/$m" || mount --bind "/$m" "$ARM_ROOT/$m"; done
# /sys: the host's CPU list and topology (ONNX Runtime's cpuinfo reads them), plus the
# ARM identification register PyTorch's oneDNN reads at import (absent under qemu-user,
# where it segfaults without it): a Cortex-A76's, as on a Raspberry Pi 5.
umount -l "$ARM_ROOT/sys" 2>/dev/null || true
rm -rf "$ARM_ROOT/sys" && mkdir -p "$ARM_ROOT/sys/devices/system/cpu"
for f in online possible present kernel_max; do
    [ -e "/sys/devices/system/cpu/$f" ] && cat "/sys/devices/system/cpu/$f" \
        > "$ARM_ROOT/sys/devices/system/cpu/$f"
done
for cpu in /sys/devices/system/cpu/cpu[0-9]*; do
    name=$(basename "$cpu")
    mkdir -p "$ARM_ROOT/sys/devices/system/cpu/$name/topology" \
             "$ARM_ROOT/sys/devices/system/cpu/$name/regs/identification"
    for f in "$cpu"/topology/*; do
        [ -f "$f" ] && cat "$f" > "$ARM_ROOT/sys/devices/system/cpu/$name/topology/$(basename "$f")" || true
    done
    echo 0x00000000414fd0b1 > "$ARM_ROOT/sys/devices/system/cpu/$name/regs/identification/midr_el1"
done

# 4. the project from the working tree (not .venv, results or caches)
rm -rf "$ARM_ROOT/edgebench" && mkdir -p "$ARM_ROOT/edgebench"
tar -C "$PROJECT" --exclude=./.venv --exclude=./results --exclude=./.git -cf - . \
    | tar -C "$ARM_ROOT/edgebench" -xf -

# 5. the host builds the artifacts (converters stay on the host)
MATRIX=$ARM_ROOT/edgebench/scripts/arm-smoke.toml
say "preparing artifacts on the host"
rm -rf "$ARM_ROOT/prepared"
"$HOST_PY" -m harness prepare "$MATRIX" --out "$ARM_ROOT/prepared" >&2

# 6. inside: a venv with LoadGen built from source (cached as a wheel) and the runtimes
chroot "$ARM_ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /bin/sh -ec '
    [ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
    mkdir -p /wheels
    if ! ls /wheels/mlcommons_loadgen-*.whl >/dev/null 2>&1; then
        echo "arm-smoke: building LoadGen from source (about 4 minutes emulated)" >&2
        /opt/venv/bin/pip wheel -q --no-deps -w /wheels mlcommons-loadgen==6.0.17
    fi
    echo "arm-smoke: installing edgebench[onnxruntime,tflite-runtime] (aarch64 wheels)" >&2
    /opt/venv/bin/pip install -q --find-links /wheels -e "/edgebench[onnxruntime,tflite-runtime]"
'

# 7. the runs, from the prepared artifacts
rm -rf "$ARM_ROOT/results"
chroot "$ARM_ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin EDGEBENCH_CACHE=/cache \
    /opt/venv/bin/edgebench sweep /edgebench/scripts/arm-smoke.toml \
    --artifacts /prepared --results /results >&2 || true
mkdir -p "$OUT" && cp -r "$ARM_ROOT/results/." "$OUT/"

# 8. the verdict
"$HOST_PY" - "$OUT" "$started" <<'PY'
import json, sys, time
from pathlib import Path
out, started = Path(sys.argv[1]), float(sys.argv[2])
records = [json.loads(p.read_text()) for p in out.glob("*/result.json")]
good = [r for r in records if r["system"]["arch"] == "aarch64" and r["emulated"]
        and r["valid"] and r.get("artifact_provenance")]
minutes = (time.time() - started) / 60
verdict = "OK" if len(good) == 4 == len(records) else "FAILED"
print(f"arm-smoke: {verdict}: {len(good)} of 4 emulated aarch64 runs valid, from prepared "
      f"artifacts, in {minutes:.0f} min; results in {out}")
sys.exit(0 if verdict == "OK" else 1)
PY
