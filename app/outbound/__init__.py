"""Calls the service makes to other systems (providers, CLIENT_HOOK endpoints): the address and port
rules, the guarded HTTP client that enforces them, and Standard Webhooks signing."""
