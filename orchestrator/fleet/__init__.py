"""The fleet: the fleet file's typed model, reading and rewriting it, its checks, enrolment,
the starter file.

Owns ``fleet.yaml`` (the only code that reads or writes it) and what a valid fleet is.
May not touch udev, Docker, the network or the hub: a fleet is data, checked here (with
the print server's material names, :mod:`instance.materials`), and handed to the other
parts as a :class:`~orchestrator.fleet.model.Fleet`.
"""
