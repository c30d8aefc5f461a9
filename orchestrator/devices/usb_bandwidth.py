"""USB bandwidth planning: which cameras on one bus cannot all stream, and what helps.

Pure: cameras (bus number, speed, mode) in, a plan with warnings out. The model
and its sources are in docs/uvc-bandwidth.md; in short:

- Isochronous bandwidth is *reserved* when a camera starts streaming: uvcvideo
  picks the smallest alternate setting whose endpoint carries the payload the
  camera asked for (``dwMaxPayloadTransferSize``), and the host controller
  refuses the stream (``No space left on device``) when the bus's periodic
  budget is used up. What fails is the reservation, not the data rate.
- A USB 2.0 high-speed bus has 8000 microframes a second; at most 80 % of each
  may be periodic (USB 2.0 spec 5.6.4): 6000 of 7500 bytes. One high-bandwidth
  isochronous endpoint carries at most 3 x 1024 bytes a microframe (5.6.3).
- YUYV: 2 bytes a pixel, so a mode needs ``w * h * 2 * fps`` bytes a second;
  the reservation is that spread over the microframes plus the 12-byte UVC
  payload header (the kernel's own UVC_QUIRK_FIX_BANDWIDTH formula).
- MJPEG: the camera cannot know its frame sizes in advance, so nearly every
  webcam asks for its largest packet, 3072 bytes a microframe, whatever the
  mode: two such cameras exceed a bus. fabfleet's uvcvideo module
  (``max_compressed_payload``) caps that request; then what the frames need
  matters, estimated at one eighth of YUYV (webcam MJPEG at its default quality).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

#: UVC payload header the kernel adds to its own estimate (uvc_fixup_video_ctrl).
UVC_HEADER = 12
#: Largest isochronous payload one high-speed endpoint moves a microframe.
HIGH_SPEED_ENDPOINT_MAX = 3 * 1024
#: Largest isochronous payload one full-speed endpoint moves a frame.
FULL_SPEED_ENDPOINT_MAX = 1023
#: Estimated MJPEG frame size as a share of the YUYV frame (webcams, default quality).
MJPEG_SHARE_OF_YUYV = 1 / 8
#: The cap docs/uvc-bandwidth.md suggests first (8 MB/s, 1280x720 at 30 fps).
SUGGESTED_CAP = 1024


class PixelFormat(StrEnum):
    MJPEG = "mjpeg"
    YUYV = "yuyv"


@dataclass(frozen=True)
class BusSpeed:
    """What a bus of one USB speed offers for periodic transfers."""

    name: str
    intervals_per_second: int  # frames (full speed) or microframes
    periodic_budget: int  # bytes an interval that may be periodic
    endpoint_max: int  # bytes an interval one isochronous endpoint moves

    @property
    def budget_per_second(self) -> int:
        return self.periodic_budget * self.intervals_per_second


FULL_SPEED = BusSpeed("USB 1.1 full speed", 1000, 1350, FULL_SPEED_ENDPOINT_MAX)  # 90 % of 1500
HIGH_SPEED = BusSpeed("USB 2.0 high speed", 8000, 6000, HIGH_SPEED_ENDPOINT_MAX)  # 80 % of 7500
# 5 Gb/s with 8b/10b coding is 500 MB/s; 90 % periodic; 48 KiB an endpoint (3 bursts x 16).
SUPER_SPEED = BusSpeed("USB 3 SuperSpeed", 8000, 56250, 3 * 16 * 1024)


def bus_speed(sysfs_speed: str | int) -> BusSpeed:
    """The speed named by a usb_device's sysfs ``speed`` attribute (Mb/s: 12, 480, 5000...)."""
    mbps = float(sysfs_speed)
    if mbps >= 5000:
        return SUPER_SPEED
    if mbps >= 480:
        return HIGH_SPEED
    return FULL_SPEED


@dataclass(frozen=True)
class CameraMode:
    width: int
    height: int
    fps: int
    format: PixelFormat

    def __str__(self) -> str:
        return f"{self.width}x{self.height} {self.format.value.upper()} at {self.fps} fps"

    def bytes_per_second(self) -> int:
        """What the frames carry: YUYV exactly, MJPEG as estimated."""
        raw = self.width * self.height * 2 * self.fps
        return raw if self.format is PixelFormat.YUYV else math.ceil(raw * MJPEG_SHARE_OF_YUYV)


@dataclass(frozen=True)
class Camera:
    """One camera as discovery sees it: its name, its usb_device's ``busnum`` and ``speed``."""

    name: str
    bus: int
    speed: str  # the sysfs value, e.g. "480"
    mode: CameraMode


@dataclass(frozen=True)
class CameraNeed:
    camera: Camera
    needed: int  # bytes an interval the frames carry, with the payload header
    reserved: int  # bytes an interval the driver asks the host controller for

    @property
    def drops_frames(self) -> bool:
        """Reserved less than the frames need: the stream starts but loses frames."""
        return self.reserved < self.needed


@dataclass(frozen=True)
class BandwidthWarning:
    bus: int
    cameras: tuple[str, ...]
    problem: str
    suggestions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.problem}; " + "; ".join(self.suggestions)


@dataclass(frozen=True)
class BusPlan:
    bus: int
    speed: BusSpeed
    needs: tuple[CameraNeed, ...]

    @property
    def reserved(self) -> int:
        return sum(n.reserved for n in self.needs)

    @property
    def fits(self) -> bool:
        return self.reserved <= self.speed.periodic_budget


@dataclass(frozen=True)
class BandwidthPlan:
    buses: tuple[BusPlan, ...]
    warnings: tuple[BandwidthWarning, ...]


def camera_need(camera: Camera, max_compressed_payload: int = 0) -> CameraNeed:
    """What one camera's mode needs and reserves a (micro)frame on its bus.

    ``max_compressed_payload`` is the fabfleet uvcvideo parameter in effect (0: stock driver).
    """
    speed = bus_speed(camera.speed)
    needed = math.ceil(camera.mode.bytes_per_second() / speed.intervals_per_second) + UVC_HEADER
    if camera.mode.format is PixelFormat.YUYV:
        reserved = min(needed, speed.endpoint_max)
    else:
        reserved = speed.endpoint_max
        if max_compressed_payload > 0:
            reserved = min(reserved, max_compressed_payload)
    return CameraNeed(camera, needed, reserved)


def plan(cameras: Iterable[Camera], max_compressed_payload: int = 0) -> BandwidthPlan:
    """Group cameras by bus, add up what each reserves, and warn where they cannot stream."""
    by_bus: dict[int, list[CameraNeed]] = {}
    for camera in cameras:
        by_bus.setdefault(camera.bus, []).append(camera_need(camera, max_compressed_payload))
    buses: list[BusPlan] = []
    warnings: list[BandwidthWarning] = []
    for bus in sorted(by_bus):
        needs = tuple(by_bus[bus])
        speed = max((bus_speed(n.camera.speed) for n in needs), key=lambda s: s.periodic_budget)
        bus_plan = BusPlan(bus, speed, needs)
        buses.append(bus_plan)
        warnings.extend(_too_fast_for_usb(bus_plan))
        warnings.extend(_frames_dropped(bus_plan, max_compressed_payload))
        if not bus_plan.fits:
            warnings.append(_over_budget(bus_plan, max_compressed_payload))
    return BandwidthPlan(tuple(buses), tuple(warnings))


def _unit(speed: BusSpeed) -> str:
    return "microframe" if speed.intervals_per_second == 8000 else "frame"


def _lower_mode(need: CameraNeed, speed: BusSpeed, fits_in: int) -> str:
    """A lower fps (then resolution) of the same format that needs at most ``fits_in``."""
    mode = need.camera.mode
    for fps in (30, 25, 20, 15, 10, 5):
        if fps >= mode.fps:
            continue
        lower = CameraMode(mode.width, mode.height, fps, mode.format)
        if _needed(lower, speed) <= fits_in:
            return f"lower {need.camera.name} to {fps} fps"
    for width, height in ((1280, 720), (800, 600), (640, 480), (320, 240)):
        if width * height >= mode.width * mode.height:
            continue
        lower = CameraMode(width, height, mode.fps, mode.format)
        if _needed(lower, speed) <= fits_in:
            return f"lower {need.camera.name} to {width}x{height}"
    return f"lower {need.camera.name}'s resolution and fps"


def _needed(mode: CameraMode, speed: BusSpeed) -> int:
    return math.ceil(mode.bytes_per_second() / speed.intervals_per_second) + UVC_HEADER


def _too_fast_for_usb(bus_plan: BusPlan) -> list[BandwidthWarning]:
    warnings = []
    speed = bus_plan.speed
    for need in bus_plan.needs:
        mode = need.camera.mode
        if mode.format is not PixelFormat.YUYV or need.needed <= speed.endpoint_max:
            continue
        suggestions = ["use MJPEG"]
        suggestions.append(_lower_mode(need, speed, speed.endpoint_max))
        warnings.append(
            BandwidthWarning(
                bus_plan.bus,
                (need.camera.name,),
                f"{need.camera.name}: {mode} needs {need.needed} bytes a {_unit(speed)}, "
                f"more than one camera can move on {speed.name} ({speed.endpoint_max})",
                tuple(suggestions),
            )
        )
    return warnings


def _frames_dropped(bus_plan: BusPlan, cap: int) -> list[BandwidthWarning]:
    warnings = []
    speed = bus_plan.speed
    for need in bus_plan.needs:
        if need.camera.mode.format is not PixelFormat.MJPEG or not need.drops_frames:
            continue
        raise_to = min(_round_up(need.needed, 256), speed.endpoint_max)
        suggestions = [_lower_mode(need, speed, need.reserved)]
        if cap and raise_to > cap:
            suggestions.append(f"raise max_compressed_payload to {raise_to} if the bus has room")
        warnings.append(
            BandwidthWarning(
                bus_plan.bus,
                (need.camera.name,),
                f"{need.camera.name}: {need.camera.mode} needs about {need.needed} bytes a "
                f"{_unit(speed)}, more than the {need.reserved} reserved for it; frames will "
                "be dropped",
                tuple(suggestions),
            )
        )
    return warnings


def _over_budget(bus_plan: BusPlan, cap: int) -> BandwidthWarning:
    speed = bus_plan.speed
    names = tuple(n.camera.name for n in bus_plan.needs)
    problem = (
        f"bus {bus_plan.bus} ({speed.name}): cameras {', '.join(names)} reserve "
        f"{bus_plan.reserved} of {speed.periodic_budget} bytes a {_unit(speed)}; "
        "they cannot all stream (the last to start fails with No space left on device)"
    )
    suggestions: list[str] = []
    mjpeg = [n for n in bus_plan.needs if n.camera.mode.format is PixelFormat.MJPEG]
    yuyv = [n for n in bus_plan.needs if n.camera.mode.format is PixelFormat.YUYV]
    if mjpeg and speed is HIGH_SPEED and (cap == 0 or cap > SUGGESTED_CAP):
        capped = [
            min(n.reserved, SUGGESTED_CAP) if n in mjpeg else n.reserved for n in bus_plan.needs
        ]
        if sum(capped) <= speed.periodic_budget:
            how = "install.sh --with-uvc-fix" if cap == 0 else "set"
            suggestions.append(
                f"cap MJPEG requests with fabfleet's uvcvideo module ({how}, "
                f"max_compressed_payload={SUGGESTED_CAP}): then they reserve {sum(capped)}"
            )
    for need in yuyv:
        if need.reserved <= SUGGESTED_CAP:
            continue
        mode = need.camera.mode
        as_mjpeg = CameraMode(mode.width, mode.height, mode.fps, PixelFormat.MJPEG)
        if cap:
            suggestions.append(f"use MJPEG for {need.camera.name} ({as_mjpeg})")
        else:
            suggestions.append(
                f"use MJPEG for {need.camera.name} together with the capped module (on the "
                f"stock driver an MJPEG camera reserves {speed.endpoint_max})"
            )
    biggest = max(bus_plan.needs, key=lambda n: n.reserved)
    room = speed.periodic_budget - (bus_plan.reserved - biggest.reserved)
    if room > UVC_HEADER and biggest.camera.mode.format is PixelFormat.YUYV:
        suggestions.append(_lower_mode(biggest, speed, room))
    suggestions.append(
        f"plug {biggest.camera.name} into a port of another bus (another root hub or USB "
        "controller; a hub on the same port shares its bus)"
    )
    return BandwidthWarning(bus_plan.bus, names, problem, tuple(suggestions))


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step
