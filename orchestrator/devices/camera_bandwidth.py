"""Whether the plugged-in cameras can all stream on their USB buses, for scan and camera add."""

from __future__ import annotations

from pathlib import Path

from orchestrator.devices.discovery import UsbDevice
from orchestrator.devices.usb_bandwidth import Camera as BusCamera
from orchestrator.devices.usb_bandwidth import CameraMode, PixelFormat, plan
from orchestrator.fleet.model import Camera, Fleet

# Set by fabfleet's uvcvideo module (kernel-patches/uvcvideo); absent with the stock driver.
CAP_PARAMETER = Path("/sys/module/uvcvideo/parameters/max_compressed_payload")


def compressed_payload_cap(parameter: Path = CAP_PARAMETER) -> int:
    """The cap fabfleet's uvcvideo module applies to MJPEG requests; 0 for the stock driver."""
    try:
        return max(0, int(parameter.read_text().strip()))
    except (OSError, ValueError):
        return 0


def _mode(camera: Camera) -> CameraMode:
    width, height = (int(n) for n in camera.resolution.split("x"))
    return CameraMode(width, height, camera.fps, PixelFormat(camera.format))


# What `camera add` gives a camera when nothing more is said.
_WIDTH, _HEIGHT = (int(n) for n in str(Camera.model_fields["resolution"].default).split("x"))
DEFAULT_MODE = CameraMode(
    _WIDTH,
    _HEIGHT,
    int(Camera.model_fields["fps"].default),
    PixelFormat(Camera.model_fields["format"].default),
)


def _enrolled(fleet: Fleet, device: UsbDevice) -> Camera | None:
    for camera in fleet.cameras:
        identity = camera.identity()
        if identity == ("serial", device.serial) or identity == ("port_path", device.port_path):
            return camera
    return None


def bandwidth_warnings(
    devices: list[UsbDevice], fleet: Fleet, cap: int | None = None
) -> list[tuple[tuple[str, ...], str]]:
    """The camera nodes and a line for each bus whose cameras cannot all stream, with help.

    An enrolled camera is planned with its own mode; one not enrolled yet with
    the fleet file's defaults (what `camera add` would give it).
    """
    cameras = []
    for device in devices:
        if device.kind != "camera" or device.bus is None or device.speed is None:
            continue
        entry = _enrolled(fleet, device)
        mode = _mode(entry) if entry else DEFAULT_MODE
        name = f"{entry.name} ({device.node})" if entry else device.node
        cameras.append(BusCamera(name, device.bus, device.speed, mode))
    if not cameras:
        return []
    result = plan(cameras, compressed_payload_cap() if cap is None else cap)
    nodes_on = {
        bus: tuple(d.node for d in devices if d.kind == "camera" and d.bus == bus)
        for bus in {c.bus for c in cameras}
    }
    return [(nodes_on[warning.bus], str(warning)) for warning in result.warnings]
