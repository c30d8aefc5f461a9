"""The running stack: applying it (``up``), Docker Compose and the Docker engine, status,
control, the images' presence, secrets.

Owns every call to Docker and the stack's keys. Decides from the stack model what runs,
never by parsing rendered text back. May not edit the fleet file nor reach into the hub
beyond :mod:`hub.door`.
"""
