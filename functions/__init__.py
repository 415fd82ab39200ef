"""The stateless CloudEvents functions, one module each.

Each module has a class whose instances take a batch of events in-process
(the local router and the embedded run use it) and a `handle` entry point for
functions-framework (`functions-framework --source=functions/<name>.py
--target=handle --signature-type=cloudevent`, or `iotmon func run <name>`),
which is what a Knative KafkaSource or PingSource calls over HTTP, one event at
a time. `serving` says how they answer (2xx; 400 for an event that can never be
handled; 500 to be retried).
"""
