"""aiohttp application: the app factory, middlewares and HTTP handlers."""
