"""Each power driver against its stand-in (tests/hub/power_stand_ins.py, which follows the
documented APIs cited there): on, off and state read back from the device; bad credentials,
timeouts and wrong answers give an unknown state with a reason, never "off"."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp
import pytest

from hub.power import http_call
from hub.power.generic_http import GenericHttp
from hub.power.gpio import Gpio
from hub.power.homeassistant import HomeAssistant as HaDriver
from hub.power.secrets import read_secret
from hub.power.shelly1 import Shelly1
from hub.power.shelly2 import Shelly2
from hub.power.spec import PowerSpec, PowerSpecError, parse_power
from hub.power.state import PowerError, PowerState
from hub.power.tasmota import Tasmota
from tests.hub.power_stand_ins import (
    Faults,
    HomeAssistant,
    ShellyGen1,
    ShellyGen2,
    StandIn,
    TasmotaPlug,
    serving,
)

T = TypeVar("T")


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_call, "TIMEOUT", aiohttp.ClientTimeout(total=1.0, sock_connect=1))


def run(scenario: Callable[[aiohttp.ClientSession], Awaitable[T]]) -> T:
    async def main() -> T:
        async with aiohttp.ClientSession() as session:
            return await scenario(session)

    return asyncio.run(main())


def once(driver_of: Callable[[aiohttp.ClientSession], Any], on: bool | None = None) -> PowerState:
    """One ``state()`` (or ``switch(on)``) of a fresh driver, closed afterwards."""

    async def scenario(session: aiohttp.ClientSession) -> PowerState:
        driver = driver_of(session)
        try:
            return await (driver.state() if on is None else driver.switch(on))  # type: ignore[no-any-return]
        finally:
            await driver.close()

    return run(scenario)


def host(stand_in: StandIn) -> str:
    return stand_in.url.removeprefix("http://")


def states(driver_of: Callable[[aiohttp.ClientSession], Any]) -> list[PowerState]:
    """state, switch on, state, switch off, state."""

    async def scenario(session: aiohttp.ClientSession) -> list[PowerState]:
        driver = driver_of(session)
        try:
            return [
                await driver.state(),
                await driver.switch(True),
                await driver.state(),
                await driver.switch(False),
                await driver.state(),
            ]
        finally:
            await driver.close()

    return run(scenario)


def words(found: list[PowerState]) -> list[str]:
    return [s.word for s in found]


# -- Tasmota ---------------------------------------------------------------------------------


def test_tasmota_switches_a_one_relay_plug_answering_power() -> None:
    with serving(TasmotaPlug()) as plug:
        spec = PowerSpec("tasmota", host=host(plug))
        found = states(lambda s: Tasmota(spec, s, None))
        assert words(found) == ["off", "on", "on", "off", "off"]
        assert isinstance(plug, TasmotaPlug) and plug.power == [False]
        assert "cmnd=Power1+On" in plug.requests[1][2] or "Power1%20On" in plug.requests[1][2]


def test_tasmota_reads_the_numbered_key_of_a_multi_relay_plug() -> None:
    with serving(TasmotaPlug(outputs=4)) as plug:
        assert isinstance(plug, TasmotaPlug)
        spec = PowerSpec("tasmota", host=host(plug), output=3)
        found = states(lambda s: Tasmota(spec, s, None))
        assert words(found) == ["off", "on", "on", "off", "off"]
        assert "POWER3" in found[1].reason
        plug.power[2] = True
        # Output 1 of a four-relay plug answers POWER1; the driver does not mix them up.
        first = PowerSpec("tasmota", host=host(plug), output=1)
        assert once(lambda s: Tasmota(first, s, None)).on is False


def test_tasmota_with_a_password_sends_basic_auth_and_the_query_pair() -> None:
    with serving(TasmotaPlug(password="s3cret")) as plug:
        spec = PowerSpec("tasmota", host=host(plug))
        assert words(states(lambda s: Tasmota(spec, s, "s3cret"))) == [
            "off", "on", "on", "off", "off",
        ]  # fmt: skip


@pytest.mark.parametrize("legacy", [False, True], ids=["401", "legacy 200"])
def test_tasmota_wrong_password_is_unknown_not_off(legacy: bool) -> None:
    with serving(TasmotaPlug(password="right", legacy=legacy)) as plug:
        assert isinstance(plug, TasmotaPlug)
        plug.power = [True]
        spec = PowerSpec("tasmota", host=host(plug))
        found = states(lambda s: Tasmota(spec, s, "wrong"))
        assert words(found) == ["unknown"] * 5
        assert "refused the user name or password" in found[0].reason
        assert "Need user=" in found[0].reason
        assert plug.power == [True]  # nothing was switched


def test_tasmota_faults_are_unknown_with_a_reason() -> None:
    with serving(TasmotaPlug(faults=Faults(delay=3))) as plug:
        state = once(lambda s: Tasmota(PowerSpec("tasmota", host=host(plug)), s, None))
        assert state.on is None and "did not answer: no answer within 1 s" in state.reason
    with serving(TasmotaPlug(faults=Faults(garbage=True))) as plug:
        state = once(lambda s: Tasmota(PowerSpec("tasmota", host=host(plug)), s, None))
        assert state.on is None and "not JSON" in state.reason and "Oops" in state.reason
    with serving(TasmotaPlug(faults=Faults(missing=True))) as plug:
        state = once(lambda s: Tasmota(PowerSpec("tasmota", host=host(plug)), s, None))
        assert state.on is None and "has no POWER1" in state.reason
    with serving(TasmotaPlug(outputs=2)) as plug:
        spec = PowerSpec("tasmota", host=host(plug), output=5)
        state = once(lambda s: Tasmota(spec, s, None))
        assert state.on is None and "has no POWER5" in state.reason


def test_a_device_nobody_listens_on_is_unknown() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = once(lambda s: Tasmota(PowerSpec("tasmota", host=f"127.0.0.1:{port}"), s, None))
    assert state.on is None and "did not answer" in state.reason


# -- Shelly gen 1 ----------------------------------------------------------------------------


def test_shelly1_switches_relay_and_reads_ison() -> None:
    with serving(ShellyGen1(relays=[False, False], password="pw")) as device:
        assert isinstance(device, ShellyGen1)
        spec = PowerSpec("shelly1", host=host(device), relay=1)
        assert words(states(lambda s: Shelly1(spec, s, "pw"))) == ["off", "on", "on", "off", "off"]
        assert device.relays == [False, False]
        assert any("/relay/1?turn=on" in r[2] for r in device.requests)


def test_shelly1_refusals_and_faults() -> None:
    with serving(ShellyGen1(password="pw")) as device:
        spec = PowerSpec("shelly1", host=host(device))
        state = once(lambda s: Shelly1(spec, s, "nope"), True)
        assert state.on is None and "refused the user name or password (401)" in state.reason
        bad = PowerSpec("shelly1", host=host(device), relay=3)
        state = once(lambda s: Shelly1(bad, s, "pw"))
        assert state.on is None and "HTTP 404" in state.reason
    with serving(ShellyGen1(faults=Faults(missing=True))) as device:
        state = once(lambda s: Shelly1(PowerSpec("shelly1", host=host(device)), s, None))
        assert state.on is None and "without 'ison'" in state.reason
    with serving(ShellyGen1(faults=Faults(delay=3))) as device:
        state = once(lambda s: Shelly1(PowerSpec("shelly1", host=host(device)), s, None))
        assert state.on is None and "no answer within" in state.reason


# -- Shelly gen 2 ----------------------------------------------------------------------------


def test_shelly2_switches_and_reads_output_not_was_on() -> None:
    with serving(ShellyGen2()) as device:
        spec = PowerSpec("shelly2", host=host(device))
        found = states(lambda s: Shelly2(spec, s, None))
        # Switch.Set answers was_on (the old state): the new one comes from GetStatus.
        assert words(found) == ["off", "on", "on", "off", "off"]
        paths = [r[2] for r in device.requests]
        assert "/rpc/Switch.Set?id=0&on=true" in paths
        assert (
            paths[paths.index("/rpc/Switch.Set?id=0&on=true") + 1] == "/rpc/Switch.GetStatus?id=0"
        )


def test_shelly2_digest_auth_sha256() -> None:
    with serving(ShellyGen2(password="digest-pw")) as device:
        spec = PowerSpec("shelly2", host=host(device))
        assert words(states(lambda s: Shelly2(spec, s, "digest-pw"))) == [
            "off", "on", "on", "off", "off",
        ]  # fmt: skip
        state = once(lambda s: Shelly2(spec, s, "wrong"))
        assert state.on is None and "refused the password (401)" in state.reason
        state = once(lambda s: Shelly2(spec, s, None))
        assert state.on is None and "401" in state.reason


def test_shelly2_rpc_errors_and_faults() -> None:
    with serving(ShellyGen2()) as device:
        bad = PowerSpec("shelly2", host=host(device), relay=7)
        state = once(lambda s: Shelly2(bad, s, None), True)
        assert state.on is None and "-105" in state.reason and "7 not found" in state.reason
    with serving(ShellyGen2(faults=Faults(missing=True))) as device:
        state = once(lambda s: Shelly2(PowerSpec("shelly2", host=host(device)), s, None))
        assert state.on is None and "without 'output'" in state.reason
    with serving(ShellyGen2(faults=Faults(garbage=True))) as device:
        state = once(lambda s: Shelly2(PowerSpec("shelly2", host=host(device)), s, None))
        assert state.on is None and "not JSON" in state.reason


def test_shelly2_stand_in_speaks_rpc_frames_and_device_info() -> None:
    """The stand-in's POST /rpc and /shelly, as the RPC protocol page describes them."""
    with serving(ShellyGen2(password="pw")) as device:

        async def scenario(session: aiohttp.ClientSession) -> list[Any]:
            info = await (await session.get(device.url + "/shelly")).json()
            frame = {"id": 1, "src": "fabfleet", "method": "Switch.GetStatus", "params": {}}
            async with aiohttp.ClientSession(
                middlewares=(aiohttp.DigestAuthMiddleware("admin", "pw"),)
            ) as signed:
                missing = await (await signed.post(device.url + "/rpc", json=frame)).json()
                frame["params"] = {"id": 0}
                ok = await (await signed.post(device.url + "/rpc", json=frame)).json()
            return [info, missing, ok]

        info, missing, ok = run(scenario)
        assert info["gen"] == 2 and info["auth_en"] is True
        assert missing["error"]["code"] == -103 and missing["dst"] == "fabfleet"
        assert ok["result"]["output"] is False and ok["id"] == 1


# -- Home Assistant --------------------------------------------------------------------------


def test_home_assistant_switches_and_rereads_state() -> None:
    with serving(HomeAssistant()) as ha:
        spec = PowerSpec("homeassistant", url=ha.url, entity_id="switch.printer_3")
        found = states(lambda s: HaDriver(spec, s, "ha-long-lived-token"))
        assert words(found) == ["off", "on", "on", "off", "off"]
        posts = [r[2] for r in ha.requests if r[1] == "POST"]
        assert posts == ["/api/services/switch/turn_on", "/api/services/switch/turn_off"]


def test_home_assistant_refusals_unknown_entity_and_unavailable() -> None:
    stand_in = HomeAssistant(entities={"switch.printer_3": "on", "switch.gone": "unavailable"})
    with serving(stand_in) as ha:
        spec = PowerSpec("homeassistant", url=ha.url, entity_id="switch.printer_3")
        state = once(lambda s: HaDriver(spec, s, "bad-token"), False)
        assert state.on is None and "refused the access token (401)" in state.reason
        assert stand_in.entities["switch.printer_3"] == "on"
        missing = PowerSpec("homeassistant", url=ha.url, entity_id="switch.nothing")
        state = once(lambda s: HaDriver(missing, s, "ha-long-lived-token"))
        assert state.on is None and "has no entity switch.nothing" in state.reason
        gone = PowerSpec("homeassistant", url=ha.url, entity_id="switch.gone")
        state = once(lambda s: HaDriver(gone, s, "ha-long-lived-token"), True)
        assert state.on is None and "switch.gone is unavailable" in state.reason
    with serving(HomeAssistant(faults=Faults(missing=True))) as ha:
        spec = PowerSpec("homeassistant", url=ha.url, entity_id="switch.printer_3")
        state = once(lambda s: HaDriver(spec, s, "ha-long-lived-token"))
        assert state.on is None and "has no state" in state.reason


# -- generic HTTP ----------------------------------------------------------------------------


def test_generic_http_against_shelly_gen1_urls() -> None:
    with serving(ShellyGen1()) as device:
        spec = PowerSpec(
            "http",
            on_url=device.url + "/relay/0?turn=on",
            off_url=device.url + "/relay/0?turn=off",
            status_url=device.url + "/relay/0",
            on_pattern=r'"ison":\s*true',
            off_pattern=r'"ison":\s*false',
        )
        assert words(states(lambda s: GenericHttp(spec, s, None))) == [
            "off", "on", "on", "off", "off",
        ]  # fmt: skip
        neither = PowerSpec(
            "http", on_url=spec.on_url, off_url=spec.off_url, status_url=spec.status_url,
            on_pattern="POWER.*ON", off_pattern="POWER.*OFF",
        )  # fmt: skip
        state = once(lambda s: GenericHttp(neither, s, None))
        assert state.on is None and "matches neither pattern" in state.reason


# -- GPIO ------------------------------------------------------------------------------------


def test_gpio_without_libgpiod_is_unknown() -> None:
    driver = Gpio(PowerSpec("gpio", line=17))
    driver.gpiod = None
    state = asyncio.run(driver.switch(True))
    assert (
        state.on is None and state.reason == "libgpiod not installed (apt install python3-libgpiod)"
    )


class FakeLine:
    """libgpiod v1's line object, as far as the driver uses it (no GPIO hardware here)."""

    def __init__(self) -> None:
        self.value: int | None = None
        self.requested: dict[str, Any] = {}

    def request(self, **kwargs: Any) -> None:
        self.requested = kwargs
        self.value = kwargs["default_vals"][0]

    def set_value(self, value: int) -> None:
        self.value = value

    def get_value(self) -> int:
        assert self.value is not None
        return self.value

    def release(self) -> None:
        self.value = None


def test_gpio_holds_the_line_from_its_first_switch() -> None:
    line = FakeLine()
    chip = SimpleNamespace(get_line=lambda n: line if n == 17 else None, close=lambda: None)
    gpiod = SimpleNamespace(Chip=lambda name: chip, LINE_REQ_DIR_OUT=3, LINE_REQ_FLAG_ACTIVE_LOW=4)
    driver = Gpio(PowerSpec("gpio", line=17, active_low=True), gpiod)  # type: ignore[arg-type]
    first = asyncio.run(driver.state())
    assert first.on is None and "has not been switched since the hub started" in first.reason
    assert line.requested == {}  # looking did not set the line
    assert asyncio.run(driver.switch(True)).on is True
    assert line.requested["flags"] == 4 and line.requested["default_vals"] == [1]
    assert asyncio.run(driver.switch(False)).on is False
    asyncio.run(driver.close())
    assert line.value is None


# -- fleet.json entries and secrets ----------------------------------------------------------


def test_fleet_json_power_entries() -> None:
    spec = parse_power({"type": "mqtt", "topic": "plug3", "secret": None}, "p")
    assert spec is not None
    assert (spec.command_topic, spec.state_topic, spec.query_topic, spec.availability_topic) == (
        "cmnd/plug3/POWER", "stat/plug3/POWER", "cmnd/plug3/POWER", "tele/plug3/LWT",
    )  # fmt: skip
    with pytest.raises(PowerSpecError, match="a homeassistant device needs 'entity_id'"):
        parse_power({"type": "homeassistant", "url": "http://ha:8123", "secret": "t"}, "p")
    with pytest.raises(PowerSpecError, match="without a state topic"):
        parse_power({"type": "mqtt", "command_topic": "x"}, "p")
    with pytest.raises(PowerSpecError, match="type must be one of"):
        parse_power({"type": "x10"}, "p")


def test_secrets_must_be_private_files(tmp_path: Path) -> None:
    secret = tmp_path / "plug-mk3"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o644)
    with pytest.raises(PowerError, match="may be read by others; chmod 600"):
        read_secret(tmp_path, "plug-mk3")
    os.chmod(secret, 0o600)
    assert read_secret(tmp_path, "plug-mk3") == "s3cret"
    with pytest.raises(PowerError, match="cannot be read"):
        read_secret(tmp_path, "nothing")
    with pytest.raises(PowerError, match="not a secret name"):
        read_secret(tmp_path, "../gate.key")
