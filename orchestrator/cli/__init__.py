"""The ``fabfleet`` command line (typer): one module per group of commands.

Owns parsing options and turning errors into one clear line and an exit code. Holds no
logic of its own: every command calls the fleet, devices, rendering, images, stack or
demo part.
"""
