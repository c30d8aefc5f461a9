"""Where the authentication middleware leaves who a request is, on the request itself.

Its own module so that the error pages (hub/web/refusals.py) can name the user
without importing the code that refuses requests.
"""

from __future__ import annotations

USER = "fabfleet.user"
# How the request proved who it is: "session" (needs CSRF on changes) or "api-key".
METHOD = "fabfleet.auth_method"
