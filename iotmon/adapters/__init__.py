"""Adapters: PostgreSQL, Redis, SMTP, webhooks, the embedded servers, settings and logs.

They turn the core's data into I/O and back; they import only `iotmon.core`.
"""
