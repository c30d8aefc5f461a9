"""``site: spoolman:`` of the fleet file: where the site's Spoolman answers (docs/spools.md).

Spoolman (the filament spool tracker) is reached over plain HTTP from the hub; its API
needs no key, so nothing here is secret. Absent: the hub tracks no spools.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


def _check_spoolman_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise PydanticCustomError(
            "fleet_spoolman_url",
            "'{value}' is not Spoolman's address; write http://host:7912 (the address its web"
            " page opens at)",
            {"value": value},
        )
    if parts.path.rstrip("/").endswith("/api/v1"):
        raise PydanticCustomError(
            "fleet_spoolman_url",
            "'{value}': give Spoolman's address without /api/v1 (fabfleet adds it)",
            {"value": value},
        )
    return value.rstrip("/")


SpoolmanUrl = Annotated[str, AfterValidator(_check_spoolman_url)]


class Spoolman(BaseModel):
    """The site's Spoolman, and when a loaded spool counts as running low."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: SpoolmanUrl
    # A loaded spool with less than this many grams left is shown as low (whole grams).
    low_grams: Annotated[int, Field(ge=0, le=100000)] = 100

    def for_hub(self) -> dict[str, object]:
        """``site.spoolman`` of hub/fleet.json."""
        return {"url": self.url, "low_grams": self.low_grams}
