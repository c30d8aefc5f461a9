"""Rendering: one view per target of the stack model (:mod:`orchestrator.model`).

``udev`` (the rules), ``compose`` (the compose file), ``nginx`` (the proxy's config) and
``hub_fleet`` (the hub's fleet.json) each render a :class:`~orchestrator.model.Stack`;
``render`` puts them together by file name, ``templates`` is the jinja2 environment
(templates shipped in ``udev/`` and ``compose/``), ``files`` writes rendered files only
when their bytes change. May not decide what runs (the model does) nor run anything: it
turns a model into text and files, and never touches Docker, udev or the network.
"""
