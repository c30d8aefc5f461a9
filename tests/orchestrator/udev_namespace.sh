#!/usr/bin/env bash
# Evaluate udev rules with the real udevadm against hand-written devices, without
# touching this machine's /dev, /run or rules: run it under `unshare -m`.
#   udev_namespace.sh RULES DEVICES SYSPATH...
# For each SYSPATH it prints "== SYSPATH", udevadm test's output, then
# "latency_timer=<what the rules wrote>" when the device's parent has that attribute.
set -euo pipefail
rules=$1 devices=$2
shift 2
scratch=$(mktemp -d)
mount -t tmpfs fabfleet-test "$scratch"
mkdir -p "$scratch/upper" "$scratch/work" "$scratch/rules"
cp "$rules" "$scratch/rules/99-fabfleet.rules"
mount -t tmpfs fabfleet-run /run
mount -t overlay fabfleet-dev -o "lowerdir=/dev,upperdir=$scratch/upper,workdir=$scratch/work" /dev
mkdir -p /dev/pts
mount -t devpts -o newinstance fabfleet-pts /dev/pts
mount --bind "$scratch/rules" /etc/udev/rules.d
for syspath in "$@"; do
  echo "== $syspath"
  # A sysfs attribute takes each write whole; the mock one is a plain file that
  # udev writes without truncating, so it is emptied first: what is read back
  # afterwards is exactly what the rules wrote (nothing when they wrote nothing).
  umockdev-run -d "$devices" -- sh -c '
    timer="/sys$1/device/latency_timer"
    if [ -e "$timer" ]; then : > "$timer"; fi
    udevadm test --action=add "/sys$1" 2>&1
    if [ -e "$timer" ]; then echo "latency_timer=$(cat "$timer")"; fi
  ' sh "$syspath"
done
