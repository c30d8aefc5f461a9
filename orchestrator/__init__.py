"""The fabfleet host side (``fabfleet``): from the fleet file to a running stack.

In parts, each a package with one purpose: ``fleet`` (the fleet file and its model),
``devices`` (udev, USB, hotplug), ``model`` (the typed model of what runs), ``rendering``
(udev rules, compose file, nginx config and the hub's fleet from that model), ``images``
(building the stack's images), ``stack`` (Docker: up, down, status, keys), ``demo`` (the
same product as local processes), ``cli`` (the command line) and ``mover``
(``fabfleet-mover``: in a k3s cluster, a printer's pod follows its printer).
:mod:`orchestrator.shipped` finds the templates and build contexts it ships (``udev/``,
``compose/``). Of the hub it uses :mod:`hub.door` only. docs/architecture.md shows how the
parts fit.
"""
