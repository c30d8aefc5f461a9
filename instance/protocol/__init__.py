"""The Marlin serial protocol, with no I/O: bytes in, events out, bytes to write out."""
