"""Persistence behind small interfaces: SQL store (SQLite default, PostgreSQL) and cache."""
