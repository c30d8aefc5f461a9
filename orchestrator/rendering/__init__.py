"""Rendering: one view per target of the stack model (udev rules, compose file, nginx
config, the hub's fleet).

Owns the jinja2 templates' environment and writing rendered files only when their bytes
change. May not run anything: it turns a model into text and files, never touches
Docker, udev or the network.
"""
