"""Who may do what: users and grants, passwords, sessions and lockout, API keys, the
signed identity, the gate nginx asks, and user management (API and ``fabfleet-hub user``).

Owns the ``users``, ``sessions`` and ``api_keys`` tables and every decision about a
request's identity and rights. May not call a print server nor touch the queue.
"""
