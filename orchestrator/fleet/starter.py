"""The commented fleet file `fabfleet init` writes."""

STARTER = """\
# fabfleet fleet file: every printer and camera on this host.
# Reference: docs/fleet-file.md. Unknown keys are errors, not warnings.
# Enrol with `fabfleet printer add` / `fabfleet camera add`, or edit by hand.
# Note: when fabfleet edits this file it rewrites it, and comments are not kept.

site:
  http_port: 80                     # the proxy's only published port
  ipv6: true                        # listen on IPv6 as well as IPv4
  image_base: debian:bookworm-slim  # base image of the printer and hub images
  image_repository: fabfleet        # images are <image_repository>/<role>:<version>
  state_dir: /var/lib/fabfleet      # rendered files and per-printer volumes
  # HTTPS (HTTP then redirects): the site's certificate, e.g. certbot's files ...
  # tls:
  #   certificate: /etc/fabfleet/tls/fullchain.pem
  #   key: /etc/fabfleet/tls/privkey.pem
  # ... or one `fabfleet up` makes itself, for the names the farm is reached at:
  # tls: {self_signed: true, names: [farm.lab.example]}
  # https_port: 443

printers: []
# printers:
#   # Found by its USB serial number (udevadm info -q property -n /dev/ttyUSB0 → ID_SERIAL_SHORT).
#   - name: prusa-mk3
#     serial: CZPX1234X004XK12345
#     baudrate: 115200
#     camera: bench-cam
#     profile:
#       bed: {x: 250, y: 210, z: 210}
#       nozzle: 0.4
#       materials: [PLA, PETG]
#       tags: [workshop]
#   # Found by the USB port it is plugged into (ID_PATH), for boards that share
#   # one serial number (cheap CH340 adapters): keep it in the same port.
#   - name: ender-1
#     port_path: pci-0000:00:14.0-usb-0:2:1.0
#     receive_buffer: 128
#   # Reached over the network (ser2net, ESP3D, or the fabfleet simulator).
#   - name: sim-1
#     url: socket://127.0.0.1:5001
#   # No hardware: the stack runs a simulated printer (fabfleet-sim) for it.
#   # `simulated: true` takes the defaults below.
#   - name: demo-1
#     simulated:
#       time_factor: 20                # moves and heat-ups this many times faster
#       firmware: marlin2              # or marlin1, prusa, rrf, repetier

cameras: []
# cameras:
#   - name: bench-cam
#     serial: 8A3B2C1D
#     resolution: 1280x720
#     fps: 30
#     format: mjpeg
"""
