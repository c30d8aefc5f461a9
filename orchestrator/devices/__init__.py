"""Devices on this host: USB discovery (pyudev), the scan report, USB bandwidth, hotplug,
udev install.

Owns everything that reads udev or sysfs, and installing the rendered rules into
``/etc/udev/rules.d``. May not touch Docker (the hotplug watcher asks the stack part to
restart a container) nor write the fleet file (enrolment is the fleet part's).
"""
