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
ARM_SCRIPT=arm-smoke
. "$(dirname "$0")/arm-root.sh"
OUT=${ARM_SMOKE_RESULTS:-$PROJECT/results/arm-smoke-$(date -u +%Y%m%dT%H%M%S)}
HOST_PY=$PROJECT/.venv/bin/python
started=$(date +%s)

[ -x "$HOST_PY" ] || { say "run 'make install' first (the host prepares the artifacts)"; exit 2; }
# 1-3. the arm64 root (cached), its mounts and its CPU tree
arm_root_setup

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
arm_chroot /bin/sh -ec '
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
arm_chroot EDGEBENCH_CACHE=/cache /opt/venv/bin/edgebench sweep /edgebench/scripts/arm-smoke.toml \
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
