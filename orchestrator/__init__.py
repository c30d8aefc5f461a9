"""The fabfleet host side: the fleet file, enrolment and (later) udev and compose rendering."""
