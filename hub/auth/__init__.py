"""Who may do what: users and grants, passwords, sessions, API keys, the signed identity, the gate.

Owns the ``users``, ``sessions`` and ``api_keys`` tables and every decision about a
request's identity and rights. May not call a print server nor touch the queue.
"""
