"""``/api/auth``: people's sessions (login, refresh rotation with reuse detection, logout, me, password
changes). Built on ``app.auth`` (credentials, tokens, guards) and ``app.users``; neither depends on it."""
