"""Publishing the fleet to an MQTT broker, with Home Assistant discovery (docs/mqtt.md).

:mod:`hub.mqtt.settings` (``site.mqtt.publish`` as fleet.json carries it, no I/O),
:mod:`hub.mqtt.topics` (topic names and payloads: the printer's state, Home Assistant's
discovery configs; no I/O), :mod:`hub.mqtt.pacing` (when each printer's state goes out;
no I/O), :mod:`hub.mqtt.commands` (pause, resume, cancel and bed clear from the broker,
through the fleet actions) and :mod:`hub.mqtt.publisher` (the broker connection, the
hub's ``MQTT`` service). Reads the fleet's live state; never imports print server code.
"""
