"""Rendering: one view per target of the stack model (udev rules, compose file, nginx
config, the hub's fleet.json).

Owns the jinja2 templates' environment (templates shipped in ``udev/`` and ``compose/``)
and writing rendered files only when their bytes change. May not run anything: it turns
a model into text and files, and never touches Docker, udev or the network.
"""
