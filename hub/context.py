"""What every hub handler works with: settings, database, fleet, live state, print servers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from aiohttp import web

from hub.config import HubConfig
from hub.fleet.instances import InstanceClient
from hub.fleet.live import FleetLive
from hub.fleet.roster import Fleet, FleetFile


@dataclass
class HubContext:
    config: HubConfig
    db: sqlite3.Connection
    fleet_file: FleetFile
    master_key: bytes
    live: FleetLive
    client: InstanceClient

    @property
    def fleet(self) -> Fleet:
        return self.fleet_file.current()


CONTEXT = web.AppKey("hub", HubContext)


def context(request: web.Request) -> HubContext:
    return request.app[CONTEXT]
