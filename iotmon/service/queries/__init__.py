"""The service's reads and writes in PostgreSQL (async, on its pool), each answering with contracts.

The route modules (iotmon.service.routes) parse requests and call these; the
alert moves and silences run the adapters' code shared with the functions.
"""
