#!/usr/bin/env bash
# The README's two commands, literally, on an emulated 64-bit ARM Debian 12 (Python 3.11,
# the Raspberry Pi OS 12 base): a fresh `git clone` of this repository with the shared
# ImageNet sample beside it (read-only), then `make demo` and `make test` inside the root
# from scripts/arm-root.sh. Each command's output goes to a log; one verdict line ends it.
#
#   sudo scripts/arm-readme.sh [demo] [test]      (default: both)
#
# ARM_TEST_TIMEOUT=SECONDS stops `make test` there (emulation is 20-100x slower than the
# board; the log then says how far it got). Timings mean nothing here, results do.
set -uo pipefail
ARM_SCRIPT=arm-readme
. "$(dirname "$0")/arm-root.sh"
OUT=${ARM_README_LOGS:-$PROJECT/results/arm-readme-$(date -u +%Y%m%dT%H%M%S)}
TARGETS=${*:-demo test}
arm_root_setup || exit 2

# what a Raspberry Pi OS user has or installs with apt (make is not in debootstrap's minbase)
if ! arm_chroot sh -c 'command -v make' >/dev/null; then
    say "apt-get install make inside the root"
    arm_chroot apt-get install -y -q make >/dev/null || { say "apt-get install make failed"; exit 2; }
fi

# a fresh clone of the committed tree, as a newcomer gets it; ../shared beside it
rm -rf "$ARM_ROOT/work" && mkdir -p "$ARM_ROOT/work/shared"
git clone -q "$PROJECT" "$ARM_ROOT/work/edgebench" || exit 2
if [ -d "$PROJECT/../shared" ]; then
    mount --bind -o ro "$PROJECT/../shared" "$ARM_ROOT/work/shared"
fi
mkdir -p "$OUT"
say "clone of $(git -C "$PROJECT" rev-parse --short HEAD) in $ARM_ROOT/work; logs in $OUT"

verdict=""
for target in $TARGETS; do
    limit=0
    [ "$target" = test ] && limit=${ARM_TEST_TIMEOUT:-0}
    say "make $target (emulated; log: $OUT/make-$target.log)"
    t0=$(date +%s)
    timeout "$limit" chroot "$ARM_ROOT" "${ARM_ENV[@]}" make -C /work/edgebench "$target" \
        > "$OUT/make-$target.log" 2>&1
    status=$?
    minutes=$(( ($(date +%s) - t0) / 60 ))
    case $status in
        0) outcome="ok" ;;
        124) outcome="stopped after ${ARM_TEST_TIMEOUT}s (ARM_TEST_TIMEOUT)" ;;
        *) outcome="FAILED (exit $status)" ;;
    esac
    tail -n 3 "$OUT/make-$target.log" | sed "s/^/  make $target | /" >&2
    verdict="$verdict make $target: $outcome in $minutes min;"
done
cp -r "$ARM_ROOT/work/edgebench/results/." "$OUT/results/" 2>/dev/null || true
echo "arm-readme: aarch64 (emulated):$verdict logs in $OUT"
case $verdict in *FAILED*) exit 1 ;; esac
