"""USB bandwidth planning: what a user is warned about before cameras fail to stream."""

from __future__ import annotations

import pytest

from orchestrator.devices.usb_bandwidth import (
    HIGH_SPEED,
    Camera,
    CameraMode,
    PixelFormat,
    bus_speed,
    camera_need,
    plan,
)

MJPEG = PixelFormat.MJPEG
YUYV = PixelFormat.YUYV


def cam(name: str, bus: int, mode: str, speed: str = "480") -> Camera:
    """``cam("a", 1, "1280x720@30 mjpeg")``."""
    size, fmt = mode.split()
    resolution, fps = size.split("@")
    width, height = resolution.split("x")
    return Camera(name, bus, speed, CameraMode(int(width), int(height), int(fps), PixelFormat(fmt)))


@pytest.mark.parametrize(
    ("sysfs", "name", "budget"),
    [
        ("12", "USB 1.1 full speed", 1350),
        ("480", "USB 2.0 high speed", 6000),
        ("5000", "USB 3 SuperSpeed", 56250),
        ("10000", "USB 3 SuperSpeed", 56250),
    ],
)
def test_bus_speed_from_the_sysfs_speed_attribute(sysfs: str, name: str, budget: int) -> None:
    speed = bus_speed(sysfs)
    assert (speed.name, speed.periodic_budget) == (name, budget)


@pytest.mark.parametrize(
    ("mode", "cap", "needed", "reserved"),
    [
        # YUYV: w*h*2*fps over 8000 microframes, plus the 12-byte payload header.
        ("640x480@30 yuyv", 0, 2316, 2316),
        ("640x480@15 yuyv", 0, 1164, 1164),
        ("1920x1080@5 yuyv", 0, 2604, 2604),
        # More than one endpoint can move: it reserves the most, and cannot stream.
        ("1280x720@30 yuyv", 0, 6924, 3072),
        # MJPEG on the stock driver: the camera asks for its largest packet.
        ("640x480@15 mjpeg", 0, 156, 3072),
        ("1280x720@30 mjpeg", 0, 876, 3072),
        # With fabfleet's module the request is capped; YUYV is never touched.
        ("1280x720@30 mjpeg", 1024, 876, 1024),
        ("1920x1080@30 mjpeg", 1024, 1956, 1024),
        ("640x480@30 yuyv", 1024, 2316, 2316),
    ],
)
def test_what_one_camera_needs_and_reserves(
    mode: str, cap: int, needed: int, reserved: int
) -> None:
    need = camera_need(cam("c", 1, mode), cap)
    assert (need.needed, need.reserved) == (needed, reserved)


def test_two_stock_mjpeg_cameras_on_one_bus_cannot_both_stream() -> None:
    result = plan([cam("left", 1, "1280x720@30 mjpeg"), cam("right", 1, "640x480@15 mjpeg")])
    (bus,) = result.buses
    assert (bus.reserved, bus.fits) == (6144, False)
    (warning,) = result.warnings
    assert warning.cameras == ("left", "right")
    assert warning.problem == (
        "bus 1 (USB 2.0 high speed): cameras left, right reserve 6144 of 6000 bytes a "
        "microframe; they cannot all stream (the last to start fails with No space left on device)"
    )
    assert warning.suggestions[0] == (
        "cap MJPEG requests with fabfleet's uvcvideo module (install.sh --with-uvc-fix, "
        "max_compressed_payload=1024): then they reserve 2048"
    )
    assert "plug left into a port of another bus" in warning.suggestions[-1]


def test_the_same_cameras_on_two_buses_are_fine() -> None:
    result = plan([cam("left", 1, "1280x720@30 mjpeg"), cam("right", 2, "640x480@15 mjpeg")])
    assert [b.bus for b in result.buses] == [1, 2]
    assert result.warnings == ()


def test_with_the_cap_five_mjpeg_cameras_share_one_bus() -> None:
    cameras = [cam(f"c{i}", 3, "1280x720@30 mjpeg") for i in range(5)]
    assert plan(cameras).warnings != ()
    capped = plan(cameras, max_compressed_payload=1024)
    assert capped.warnings == ()
    assert capped.buses[0].reserved == 5120
    # A sixth no longer fits even capped; the cap suggestion is not repeated.
    sixth = plan([*cameras, cam("c5", 3, "1280x720@30 mjpeg")], max_compressed_payload=1024)
    (warning,) = sixth.warnings
    assert "reserve 6144 of 6000" in warning.problem
    assert not any("max_compressed_payload" in s for s in warning.suggestions)


def test_a_capped_mjpeg_camera_whose_frames_do_not_fit_is_told_it_drops_frames() -> None:
    result = plan([cam("bench", 1, "1920x1080@30 mjpeg")], max_compressed_payload=1024)
    (warning,) = result.warnings
    assert warning.problem == (
        "bench: 1920x1080 MJPEG at 30 fps needs about 1956 bytes a microframe, more than "
        "the 1024 reserved for it; frames will be dropped"
    )
    assert warning.suggestions == (
        "lower bench to 15 fps",
        "raise max_compressed_payload to 2048 if the bus has room",
    )


def test_two_yuyv_vga_cameras_fit_but_three_do_not() -> None:
    two = [cam("a", 1, "640x480@30 yuyv"), cam("b", 1, "640x480@30 yuyv")]
    assert plan(two).warnings == ()
    three = plan([*two, cam("c", 1, "640x480@30 yuyv")])
    (warning,) = three.warnings
    assert "reserve 6948 of 6000" in warning.problem
    # Room left for the largest one once the others stream: 6000 - 4632 = 1368.
    assert "lower a to 15 fps" in warning.suggestions
    assert any(
        s.startswith("use MJPEG for a together with the capped module") for s in warning.suggestions
    )


def test_yuyv_mode_beyond_usb2_is_flagged_with_a_mode_that_fits() -> None:
    result = plan([cam("hd", 4, "1920x1080@30 yuyv")])
    (warning,) = result.warnings
    assert warning.problem == (
        "hd: 1920x1080 YUYV at 30 fps needs 15564 bytes a microframe, more than one camera "
        "can move on USB 2.0 high speed (3072)"
    )
    assert warning.suggestions == ("use MJPEG", "lower hd to 5 fps")
    assert str(warning).endswith("; use MJPEG; lower hd to 5 fps")


def test_superspeed_bus_has_room_for_what_saturates_usb2() -> None:
    cameras = [cam(f"s{i}", 5, "1280x720@30 yuyv", speed="5000") for i in range(4)]
    result = plan(cameras)
    assert result.buses[0].speed.name == "USB 3 SuperSpeed"
    assert result.warnings == ()


def test_mixed_bus_counts_every_camera_against_the_high_speed_budget() -> None:
    result = plan([cam("m", 1, "1280x720@30 mjpeg"), cam("y", 1, "640x480@30 yuyv")])
    (bus,) = result.buses
    assert bus.speed is HIGH_SPEED
    assert bus.reserved == 3072 + 2316
    assert result.warnings == ()
