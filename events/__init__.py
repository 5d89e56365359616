"""The event bus (in-process default, Redis pub/sub across workers), webhooks and audit."""
