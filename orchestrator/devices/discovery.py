"""USB serial ports and V4L2 capture devices as udev sees them, read with pyudev."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Literal

import pyudev

DeviceKind = Literal["serial", "camera"]


class DeviceNotFound(Exception):
    """A device path that is not a USB serial port or capture device; the message says why."""


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """One plugged-in USB serial port (a printer's board) or webcam capture node."""

    kind: DeviceKind
    node: str
    vendor_id: str | None
    product_id: str | None
    vendor: str | None
    product: str | None
    serial: str | None
    port_path: str | None
    driver: str | None
    sys_path: str
    # The USB bus the device is on and its speed in Mbit/s as sysfs gives it ("480").
    bus: int | None = None
    speed: str | None = None

    def usb_id(self) -> str:
        """``vendor:product`` as lsusb shows it, '?' for what udev did not say."""
        return f"{self.vendor_id or '?'}:{self.product_id or '?'}"

    def name(self) -> str:
        """The maker and model, as far as the device or udev's database names them."""
        return " ".join(part for part in (self.vendor, self.product) if part) or "-"

    def to_json(self) -> dict[str, str | int | None]:
        """Every field, for `fabfleet scan --json`."""
        return asdict(self)


def _usb_parent(device: pyudev.Device) -> pyudev.Device | None:
    return device.find_parent("usb", "usb_device")


def _attribute(device: pyudev.Device | None, name: str) -> str | None:
    if device is None:
        return None
    try:
        value = device.attributes.asstring(name).strip()
    except (KeyError, UnicodeDecodeError, OSError):
        return None
    return value or None


def _driver(device: pyudev.Device) -> str | None:
    # The tty or video node has no driver itself; the usb-serial port or the USB
    # interface above it does (ftdi_sio, ch341, cdc_acm, uvcvideo). The USB device
    # further up is always driven by the generic "usb" driver, which says nothing.
    for ancestor in device.ancestors:
        if ancestor.device_type == "usb_device":
            return None
        driver = ancestor.driver or _uevent_driver(ancestor)
        if driver:
            return str(driver)
    return None


def _uevent_driver(device: pyudev.Device) -> str | None:
    # Where sysfs has no "driver" link to follow, the kernel's uevent file still
    # names the bound driver.
    for line in (_attribute(device, "uevent") or "").splitlines():
        key, _, value = line.partition("=")
        if key == "DRIVER" and value:
            return value
    return None


def _is_capture(device: pyudev.Device) -> bool:
    # A UVC webcam has a capture node and a metadata node; only the first streams.
    capabilities = device.properties.get("ID_V4L_CAPABILITIES")
    if capabilities is not None:
        return ":capture:" in capabilities
    return _attribute(device, "index") == "0"


def describe(device: pyudev.Device) -> UsbDevice | None:
    """``device`` as a UsbDevice; None for anything that is not a USB serial or capture node."""
    if device.device_node is None or device.subsystem not in ("tty", "video4linux"):
        return None
    usb = _usb_parent(device)
    if usb is None:
        return None
    if device.subsystem == "video4linux" and not _is_capture(device):
        return None
    properties = device.properties
    return UsbDevice(
        kind="serial" if device.subsystem == "tty" else "camera",
        node=device.device_node,
        vendor_id=properties.get("ID_VENDOR_ID") or _attribute(usb, "idVendor"),
        product_id=properties.get("ID_MODEL_ID") or _attribute(usb, "idProduct"),
        vendor=_attribute(usb, "manufacturer") or properties.get("ID_VENDOR_FROM_DATABASE"),
        product=_attribute(usb, "product")
        or properties.get("ID_V4L_PRODUCT")
        or properties.get("ID_MODEL_FROM_DATABASE"),
        serial=properties.get("ID_SERIAL_SHORT") or _attribute(usb, "serial"),
        port_path=properties.get("ID_PATH"),
        driver=_driver(device),
        sys_path=device.sys_path,
        bus=_bus_number(usb),
        speed=_attribute(usb, "speed"),
    )


def _bus_number(usb: pyudev.Device) -> int | None:
    number = _attribute(usb, "busnum") or usb.properties.get("BUSNUM")
    try:
        return int(number) if number else None
    except ValueError:
        return None


def scan(context: pyudev.Context | None = None) -> list[UsbDevice]:
    """Every USB serial port and capture node now present, serial ports first, by node."""
    context = context or pyudev.Context()
    found = [
        described
        for subsystem in ("tty", "video4linux")
        for device in context.list_devices(subsystem=subsystem)
        if (described := describe(device)) is not None
    ]
    return sorted(found, key=lambda d: (d.kind != "serial", _natural(d.node)))


def _natural(node: str) -> tuple[str, int]:
    # /dev/ttyUSB10 after /dev/ttyUSB9.
    stem = node.rstrip("0123456789")
    digits = node[len(stem) :]
    return stem, int(digits) if digits else -1


def find_device(path: str, kind: DeviceKind, context: pyudev.Context | None = None) -> UsbDevice:
    """The device at ``path`` (a node or any link to it, such as /dev/serial/by-id/...)."""
    context = context or pyudev.Context()
    wanted = "a USB serial port" if kind == "serial" else "a USB camera's capture node"
    if not os.path.exists(path):
        raise DeviceNotFound(f"{path} does not exist; `fabfleet scan` lists what is plugged in")
    try:
        device = pyudev.Devices.from_device_file(context, path)
    except (pyudev.DeviceNotFoundError, ValueError, OSError):
        raise DeviceNotFound(f"{path} is not a device udev knows; use a /dev node") from None
    described = describe(device)
    if described is None or described.kind != kind:
        hint = ""
        if kind == "camera" and device.subsystem == "video4linux":
            captures = [d.node for d in scan(context) if d.kind == "camera"]
            siblings = [n for n in captures if _same_usb_device(context, n, device)]
            if siblings:
                hint = f" (the camera's capture node is {siblings[0]})"
        raise DeviceNotFound(f"{path} is not {wanted}{hint}; `fabfleet scan` lists them")
    return described


def _same_usb_device(context: pyudev.Context, node: str, device: pyudev.Device) -> bool:
    other = pyudev.Devices.from_device_file(context, node)
    mine, theirs = _usb_parent(device), _usb_parent(other)
    return mine is not None and theirs is not None and mine.sys_path == theirs.sys_path
