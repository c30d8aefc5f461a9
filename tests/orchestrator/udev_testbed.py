"""A umockdev testbed that a test can plug and unplug devices in while a command runs.

Run under umockdev's preload library (the testbed's own process must see the
mocked /sys to send events):

    LD_PRELOAD=libumockdev-preload.so.0 python udev_testbed.py DEVICES OUTPUT -- COMMAND...

It loads DEVICES, starts COMMAND inside the testbed with its output in OUTPUT,
prints "ready", then reads lines from stdin: "add SYSPATH", "remove SYSPATH"
(the device stays in sysfs, as after a spurious event) or "unplug SYSPATH"
(remove event, then the device is gone from sysfs), answering "ok" to each;
SYSPATH starts with /sys.
On end of input it stops COMMAND (SIGINT, then SIGKILL) and exits with its code.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL("libumockdev.so.0")
    lib.umockdev_testbed_new.restype = ctypes.c_void_p
    lib.umockdev_testbed_get_root_dir.restype = ctypes.c_char_p
    lib.umockdev_testbed_get_root_dir.argtypes = [ctypes.c_void_p]
    lib.umockdev_testbed_add_from_file.restype = ctypes.c_int
    lib.umockdev_testbed_add_from_file.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_void_p,
    ]
    lib.umockdev_testbed_uevent.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.umockdev_testbed_remove_device.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


def main(argv: list[str]) -> int:
    devices, output, separator, *command = argv
    assert separator == "--" and command, __doc__
    lib = _library()
    testbed = lib.umockdev_testbed_new()
    root = lib.umockdev_testbed_get_root_dir(testbed).decode()
    if not lib.umockdev_testbed_add_from_file(testbed, devices.encode(), None):
        print(f"cannot load {devices}", file=sys.stderr)
        return 2
    env = dict(os.environ, UMOCKDEV_DIR=root)
    with open(output, "wb") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    print("ready", flush=True)
    for line in sys.stdin:
        verb, _, syspath = line.strip().partition(" ")
        path = syspath.encode()
        if verb in ("add", "remove"):
            lib.umockdev_testbed_uevent(testbed, path, verb.encode())
        elif verb == "unplug":
            lib.umockdev_testbed_uevent(testbed, path, b"remove")
            lib.umockdev_testbed_remove_device(testbed, path)
        else:
            print(f"unknown command {line!r}", flush=True)
            continue
        print("ok", flush=True)
    child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
