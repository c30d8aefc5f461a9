"""Devices on this host: USB discovery (pyudev), the scan report, USB and camera bandwidth,
the hotplug watcher, installing the udev rules.

Owns everything that reads udev or sysfs, and installing the rendered rules into
``/etc/udev/rules.d`` (and asking udev to apply them). May not touch Docker (the hotplug
watcher is handed a function that restarts a container) nor write the fleet file
(enrolment is the fleet part's).
"""
