"""``serve`` settings: command line over environment over config file; strict files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from instance.sim.process import BIN, simulator_process, stop_process
from instance.web.config import ConfigError, ServeConfig, load_config
from tests.web.server import Served, start_server

pytestmark = pytest.mark.timeout(60)

CLI_NOTHING: dict[str, str | None] = {}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_command_line_wins_over_environment_over_file_over_defaults(tmp_path: Path):
    config_file = write(
        tmp_path / "instance.toml",
        'port = "/dev/ttyFILE"\ndata_dir = "/data/file"\nbaudrate = 115200\n'
        'printer = "from-file"\nrx_buffer = 64\nmax_upload_mb = 10\n',
    )
    env = {"FABFLEET_PORT": "/dev/ttyENV", "FABFLEET_PRINTER": "from-env",
           "FABFLEET_LISTEN": "0.0.0.0:8081", "FABFLEET_API_KEY": "env-key"}  # fmt: skip
    config = load_config({"port": "/dev/ttyCLI"}, env, config_file)
    assert config == ServeConfig(
        port="/dev/ttyCLI",
        data_dir=Path("/data/file"),
        baudrate=115200,
        listen_host="0.0.0.0",
        listen_port=8081,
        api_key="env-key",
        printer="from-env",
        rx_buffer=64,
        max_upload_mb=10,
    )
    defaults = load_config({"port": "/dev/ttyACM0", "data_dir": "/d"}, {}, None)
    assert (defaults.baudrate, defaults.listen_host, defaults.listen_port) == (
        250000,
        "127.0.0.1",
        5000,
    )
    assert (defaults.command_buffer, defaults.rx_buffer, defaults.max_upload_mb) == (4, 128, 2048)


def test_yaml_config_with_dashed_keys(tmp_path: Path):
    config_file = write(
        tmp_path / "instance.yaml",
        "port: socket://10.0.0.5:23\ndata-dir: /data\nlisten: '[::1]:9000'\n"
        "command-buffer: 8\nbase_path: /printers/x/\ncamera_url: http://cam/stream\n",
    )
    config = load_config(CLI_NOTHING, {}, config_file)
    assert (config.port, config.command_buffer, config.base_path) == (
        "socket://10.0.0.5:23",
        8,
        "/printers/x",
    )
    assert (config.listen_host, config.listen_port) == ("::1", 9000)
    assert config.camera_url == "http://cam/stream"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.toml",
            'port = "x"\nbaudrat = 9600\n',
            "unknown key 'baudrat' (did you mean 'baudrate'?)",
        ),
        ("a.yaml", "port: x\napikey: k\n", "unknown key 'apikey' (did you mean 'api_key'?)"),
        ("a.toml", "port = [1, 2]\n", "'port' must be a single value, not list"),
        ("a.toml", "port = \n", "not valid TOML"),
        ("a.yaml", "- a\n- b\n", "expected a table of settings, found list"),
        ("a.ini", "port=x\n", "a config file must end in .toml, .yaml or .yml"),
        ("a.toml", 'port = "x"\ndata_dir = "/d"\nbaudrate = -3\n', "baudrate: must be a positive"),
        (
            "a.toml",
            'port = "x"\ndata_dir = "/d"\nlisten = "nowhere"\n',
            "'nowhere' is not HOST:PORT",
        ),
    ],
)
def test_bad_config_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, text: str, message: str
):
    with pytest.raises(ConfigError) as refused:
        load_config(CLI_NOTHING, {}, write(tmp_path / name, text))
    assert message in str(refused.value)
    assert str(tmp_path / name) in str(refused.value)


def test_an_api_key_in_a_world_readable_file_is_refused(tmp_path: Path):
    path = write(tmp_path / "i.toml", 'port = "x"\ndata_dir = "/d"\napi_key = "s3cret"\n', 0o644)
    with pytest.raises(ConfigError) as refused:
        load_config(CLI_NOTHING, {}, path)
    assert str(refused.value) == (
        f"{path} holds an API key and every user on this host can read it; run: chmod 600 {path}"
    )
    path.chmod(0o640)
    assert load_config(CLI_NOTHING, {}, path).api_key == "s3cret"
    no_key = write(tmp_path / "j.toml", 'port = "x"\ndata_dir = "/d"\n', 0o644)
    assert load_config(CLI_NOTHING, {}, no_key).api_key is None


def test_missing_port_is_named_with_every_way_to_give_it(tmp_path: Path):
    with pytest.raises(ConfigError) as refused:
        load_config({"data_dir": "/d"}, {}, None)
    assert str(refused.value) == "--port is required (or FABFLEET_PORT, or the config file)"


def test_serve_from_the_environment_alone_as_compose_starts_it(tmp_path: Path):
    with simulator_process(tmp_path) as sim:
        env = {
            "FABFLEET_PORT": sim.port,
            "FABFLEET_BAUDRATE": "250000",
            "FABFLEET_DATA_DIR": str(tmp_path / "data"),
            "FABFLEET_LISTEN": "127.0.0.1:0",
            "FABFLEET_RX_BUFFER": "128",
            "FABFLEET_COMMAND_BUFFER": "4",
            "FABFLEET_PRINTER": "prusa-left",
        }
        process = subprocess.Popen(
            [str(BIN / "fabfleet-instance"), "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("fabfleet-instance: serving prusa-left on http://127.0.0.1:")
            url = line.rsplit(" on ", 1)[1].strip().rstrip("/")
            served = Served(process, url, tmp_path / "data", sim, None)
            served.wait_state("ready")
            assert served.get("/api/v1/printer").json()["name"] == "prusa-left"
            # No key configured (the hub's proxy does the login): the API is open.
            assert served.get("/api/version").status_code == 200
        finally:
            stop_process(process)
        assert process.returncode == 0


def test_serve_refuses_a_bad_config_and_a_data_dir_in_use(tmp_path: Path):
    bad = write(tmp_path / "i.toml", "colour = 'red'\n")
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown key 'colour'" in result.stderr
    with simulator_process(tmp_path) as sim:
        first = start_server(sim, tmp_path / "data")
        try:
            second = subprocess.run(
                [str(BIN / "fabfleet-instance"), "serve", "--port", sim.port,
                 "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert second.returncode == 2
            assert "is in use by another fabfleet-instance" in second.stderr
        finally:
            stop_process(first.process)
