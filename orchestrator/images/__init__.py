"""The stack's images: the base image, wheels prepared on the host, build contexts and
their hash, builds, the provider ``up`` uses, and what ``images --dry-run`` shows.

Owns deciding which images are missing or out of date and building them (no network in
a build). The build contexts are shipped in ``compose/images/`` (found through
:mod:`orchestrator.shipped`, in a checkout or an installed wheel); fabfleet's own wheel
comes from its source, a wheel file or the install itself
(:func:`~orchestrator.images.wheels.find_origin`).
May not start or stop containers (that is the stack part's).
"""
