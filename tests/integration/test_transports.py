"""The transports against real ptys, sockets and an RFC 2217 server."""

from __future__ import annotations

import asyncio
import os
import termios
from pathlib import Path

import pytest

from instance.transport.base import TransportError
from instance.transport.open import open_transport
from instance.transport.simulated import options_from_url
from tests.integration.rfc2217_bridge import Rfc2217Bridge
from tests.integration.simulator import (
    GCODE,
    excerpt,
    file_commands,
    print_file,
    printed_commands,
    simulator,
)


def test_serial_device_is_exclusive_and_does_not_hang_up_on_close(tmp_path: Path) -> None:
    async def scenario(device: str) -> None:
        first = await open_transport(device, 250000)
        try:
            with pytest.raises(TransportError, match="cannot open"):
                await open_transport(device, 250000)
            replies: asyncio.Queue[bytes] = asyncio.Queue()
            first.start(replies.put_nowait, lambda reason: None)
            first.write(b"N0 M110 N0*125\n")
            reply = b""
            while b"ok" not in reply:
                reply += await asyncio.wait_for(replies.get(), 5)
        finally:
            await first.close()
        # Closed, it can be opened again.
        again = await open_transport(device, 115200)
        await again.close()

    with simulator(tmp_path) as sim:
        asyncio.run(scenario(sim.port))


def test_serial_device_clears_hupcl_so_reopening_does_not_reset_the_board(
    tmp_path: Path,
) -> None:
    async def scenario(device: str) -> int:
        transport = await open_transport(device, 250000)
        try:
            descriptor = os.open(device, os.O_RDONLY | os.O_NOCTTY)
            try:
                flags: int = termios.tcgetattr(descriptor)[2]
                return flags
            finally:
                os.close(descriptor)
        finally:
            await transport.close()

    with simulator(tmp_path) as sim:
        cflag = asyncio.run(scenario(sim.port))
    assert not cflag & termios.HUPCL


def test_rfc2217_url_prints_every_line(tmp_path: Path) -> None:
    path = excerpt(GCODE / "cube_cura_ender3.gcode", tmp_path / "cube.gcode", 1500)
    with simulator(tmp_path) as sim:
        bridge = Rfc2217Bridge(sim.port)
        try:
            result = print_file(bridge.url, path, tmp_path / "data")
        finally:
            bridge.close()
        executed, _ = sim.executed_with_resets()
    assert result.returncode == 0, result.stderr
    # M105 aside: the host sends its own (the handshake's sync, polls), like this Cura file.
    expected = [c for c in file_commands(path) if c != "M105"]
    assert [c for c in printed_commands(executed, expected) if c != "M105"] == expected


@pytest.mark.parametrize(
    ("port", "words"),
    [
        ("socket://127.0.0.1", "expected socket://HOST:PORT"),
        ("socket://127.0.0.1:99999", "port must be a number"),
        ("socket://127.0.0.1:1", "cannot connect"),
        ("ftp://host:1", "unknown port scheme"),
        ("ttyUSB0", "neither a device path"),
        ("/dev/does-not-exist", "cannot open /dev/does-not-exist"),
        ("sim://?latency=soon", "not a valid value"),
        ("sim://?colour=red", "unknown simulator option"),
    ],
)
def test_bad_ports_are_refused_with_a_reason(port: str, words: str) -> None:
    async def scenario() -> None:
        with pytest.raises(TransportError, match=words):
            await open_transport(port, 250000)

    asyncio.run(scenario())


def test_sim_url_options_become_simulator_options() -> None:
    options = options_from_url("sim://?identity=prusa&latency=0.016&advanced-ok=no&baud=250000")
    assert options.identity == "prusa"
    assert options.latency == pytest.approx(0.016)
    assert options.advanced_ok is False
    assert options.baud == 250000
