# Sourced by scripts/arm-smoke.sh and scripts/arm-readme.sh: an emulated arm64 Debian 12
# root (debootstrap + qemu-user-static, Debian's packages), built once and cached in
# $ARM_ROOT, ready to chroot into. Needs root. Runs from the project's folder ($PROJECT).
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
PROJECT=$(pwd)
ARM_ROOT=${ARM_ROOT:-$HOME/.cache/edgebench/arm64-bookworm}
say() { echo "${ARM_SCRIPT:-arm}: $*" >&2; }

arm_root_setup() {
    if [ "$(id -u)" != 0 ]; then say "needs root (debootstrap, chroot, mounts): sudo $0"; exit 2; fi
    # qemu-user-static and debootstrap from Debian's packages; binfmt_misc for arm64
    if ! command -v debootstrap >/dev/null || ! [ -e /usr/bin/qemu-aarch64-static ]; then
        say "installing qemu-user-static debootstrap binfmt-support"
        apt-get install -y -q qemu-user-static debootstrap binfmt-support >/dev/null
    fi
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 2>/dev/null || true

    if [ ! -e "$ARM_ROOT/.complete" ]; then
        say "debootstrap arm64 bookworm into $ARM_ROOT (about 3 minutes)"
        rm -rf "$ARM_ROOT"
        mkdir -p "$ARM_ROOT"
        debootstrap --arch=arm64 --variant=minbase \
            --include=python3,python3-venv,python3-pip,python3-dev,g++,ca-certificates \
            bookworm "$ARM_ROOT" http://deb.debian.org/debian >/dev/null
        touch "$ARM_ROOT/.complete"
    fi

    # what pip needs inside: the host's certificates, resolver and pip settings
    cp /etc/ssl/certs/ca-certificates.crt "$ARM_ROOT/etc/ssl/certs/ca-certificates.crt"
    cp /etc/resolv.conf "$ARM_ROOT/etc/resolv.conf"
    if [ -e /etc/pip.conf ]; then cp /etc/pip.conf "$ARM_ROOT/etc/pip.conf"; fi
    trap arm_root_unmount EXIT
    for m in proc dev; do mountpoint -q "$ARM_ROOT/$m" || mount --bind "/$m" "$ARM_ROOT/$m"; done
    # /sys: the host's CPU list and topology (ONNX Runtime's cpuinfo reads them), plus the
    # ARM identification register PyTorch's oneDNN reads at import (absent under
    # qemu-user, where it segfaults without it): a Cortex-A76's, as on a Raspberry Pi 5.
    umount -l "$ARM_ROOT/sys" 2>/dev/null || true
    rm -rf "$ARM_ROOT/sys" && mkdir -p "$ARM_ROOT/sys/devices/system/cpu"
    for f in online possible present kernel_max; do
        if [ -e "/sys/devices/system/cpu/$f" ]; then
            cat "/sys/devices/system/cpu/$f" > "$ARM_ROOT/sys/devices/system/cpu/$f"
        fi
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
}

arm_root_unmount() {
    for m in work/shared dev proc; do umount -l "$ARM_ROOT/$m" 2>/dev/null || true; done
}

# chroot "$ARM_ROOT" "${ARM_ENV[@]}" CMD...: CMD inside the root, in a clean environment
ARM_ENV=(/usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
         PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1)
arm_chroot() { chroot "$ARM_ROOT" "${ARM_ENV[@]}" "$@"; }
