"""Fixed ports and paths inside the containers, so no host path leaks into a service's config."""

from __future__ import annotations

# Every service listens on this port inside the stack's internal network.
SERVICE_PORT = 8080
# Where a simulated printer's simulator (service sim-<name>) listens for its print server.
SIMULATOR_PORT = 5000
# Where a printer's or camera's one device appears inside its container.
PRINTER_DEVICE = "/dev/printer"
CAMERA_DEVICE = "/dev/video-camera"
# Where udev puts the stable links (printer-<name>, camera-<name>) on the host.
LINK_DIR = "/dev/fabfleet"
DATA_DIR = "/data"
# Scratch space: every root file system is read-only.
SCRATCH = "/tmp"
# Where the hub and the proxy find their rendered files (read-only directory mounts).
HUB_DIR = "/etc/fabfleet/hub"
HUB_FLEET = f"{HUB_DIR}/fleet.json"
PROXY_DIR = "/etc/fabfleet/proxy"
PROXY_CONF = f"{PROXY_DIR}/nginx.conf"
# Where the hub and each print server find their key (a read-only file mount).
SECRETS_DIR = "/etc/fabfleet/secrets"
HUB_KEY = f"{SECRETS_DIR}/gate.key"
PRINTER_KEY = f"{SECRETS_DIR}/printer.key"
# The power devices' passwords and tokens (a read-only directory mount; the hub's default).
POWER_SECRETS = f"{SECRETS_DIR}/power"
# The proxy's key for asking the gate (a read-only file mount).
PROXY_KEY = f"{SECRETS_DIR}/proxy-gate.conf"
# The proxy's TLS certificate and key inside its container.
TLS_DIR = "/etc/fabfleet/tls"
TLS_CERTIFICATE = f"{TLS_DIR}/certificate.pem"
TLS_KEY = f"{TLS_DIR}/key.pem"
# FTDI adapters hold bytes up to 16 ms by default; a printer's link sets this instead.
FTDI_LATENCY_MS = 1


def service_address(service: str, port: int = SERVICE_PORT) -> str:
    """Where a service is reached on the stack's internal network (host:port)."""
    return f"{service}:{port}"


# The directories of the state directory that hold the hub's and the proxy's rendered files.
HUB_RENDERED = "hub"
PROXY_RENDERED = "proxy"
