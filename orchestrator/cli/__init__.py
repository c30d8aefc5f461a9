"""The ``fabfleet`` command line (typer): one module per group of commands.

Owns the options, the words on the terminal, and turning each error into one clear line
and an exit code. Keeps no logic of its own: every command calls the fleet, devices,
model, rendering, images, stack or demo part, and the hub only through :mod:`hub.door`
(``fabfleet user``).
"""
