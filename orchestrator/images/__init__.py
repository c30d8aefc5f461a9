"""The stack's images: base image, wheels prepared on the host, build contexts, builds, the
provider.

Owns deciding which images are missing or out of date and building them (no network in
a build). The build contexts live in ``compose/images/`` (:mod:`orchestrator.shipped`).
May not start or stop containers (that is the stack part).
"""
