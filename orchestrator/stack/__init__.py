"""The running stack: applying it (``up``), Docker Compose and the Docker engine, status,
control, the images' presence, secrets, the proxy's certificate.

Owns every call to Docker, the stack's keys and the proxy's certificate and key. Decides
from the stack model what runs, never by parsing rendered text back. May not edit the
fleet file nor reach into the hub beyond :mod:`hub.door`.
"""
