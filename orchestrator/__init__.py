"""The fabfleet host side: the fleet file, enrolment, and rendering udev rules and the stack."""
