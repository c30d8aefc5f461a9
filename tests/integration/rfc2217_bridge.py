"""A small RFC 2217 server in front of a serial device, built on pyserial's PortManager.

ser2net and ESP3D bridges speak RFC 2217 on the network; this one lets the
tests reach the simulator's pty the same way.
"""

from __future__ import annotations

import socket
import threading

import serial
import serial.rfc2217


class Rfc2217Bridge:
    """Serves one RFC 2217 client at a time on 127.0.0.1, bridged to ``device``."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rfc2217://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with client:
                self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        device = _PtyPort(self._device, 250000, timeout=0.05)
        manager = serial.rfc2217.PortManager(device, _Writer(client))  # type: ignore[arg-type]
        done = threading.Event()

        def device_to_client() -> None:
            while not done.is_set():
                try:
                    data = device.read(4096)
                    if data:
                        client.sendall(b"".join(manager.escape(data)))
                except (OSError, serial.SerialException):
                    done.set()

        pump = threading.Thread(target=device_to_client, daemon=True)
        pump.start()
        try:
            while not self._stop.is_set():
                data = client.recv(4096)
                if not data:
                    break
                device.write(b"".join(manager.filter(data)))
        except OSError:
            pass
        finally:
            done.set()
            pump.join(timeout=5)
            device.close()


class _PtyPort(serial.Serial):
    """A pty has no modem lines: they read as low and setting them does nothing."""

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return False

    @property
    def dsr(self) -> bool:
        return False

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False


class _Writer:
    """What PortManager needs to send its telnet negotiation: a ``write``."""

    def __init__(self, client: socket.socket) -> None:
        self._client = client

    def write(self, data: bytes) -> None:
        self._client.sendall(data)
