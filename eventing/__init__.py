"""Events on the wire: one event model, one module per transport binding.

- `events`: the event types and builders of this system.
- `binding`: CloudEvents in Kafka binary mode (`ce_*` headers, key = device).
- `sources`: what a KafkaSource and a PingSource send (forwarded or wrapped records, ticks).
- `transport`: what every transport offers (publish, consume, commit).
- `kafka`: the confluent-kafka transport; `memory`: the in-process one.
- `wiring`: the subscriptions read from the Knative manifests.
- `delivery`: the function contract and Knative's retry rule.
- `http_sink`: delivery to a function over HTTP; `endpoints`: where the functions listen.
- `router`: plays KafkaSource and PingSource for local runs.
"""
