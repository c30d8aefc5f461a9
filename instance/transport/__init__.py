"""Byte pipes to a printer: serial device, TCP socket, RFC 2217, in-process simulator."""
