-- The embedded run's event log: Kafka's contract (topics, partitions by key,
-- consumer groups with committed offsets) in two tables, so that an event is
-- durable before anything acknowledges it (eventing/postgres.py). A cluster
-- uses Kafka instead and leaves these tables empty.

-- One row per record. `id` is the record's offset in its partition: offsets
-- grow but are not dense (one sequence serves every partition). Publishers
-- hold an advisory lock per partition until they commit, so a partition's
-- rows become visible in id order and a consumer never skips one.
CREATE TABLE IF NOT EXISTS event_log (
  topic TEXT NOT NULL,
  partition SMALLINT NOT NULL,
  id BIGINT GENERATED ALWAYS AS IDENTITY,
  key BYTEA,
  headers BYTEA NOT NULL,  -- the ce_* headers, MessagePack [[name, value], ...]
  value BYTEA,
  PRIMARY KEY (topic, partition, id)
);

-- Where each consumer group goes on in each partition: the next offset to read.
CREATE TABLE IF NOT EXISTS event_offsets (
  consumer_group TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition SMALLINT NOT NULL,
  next_offset BIGINT NOT NULL,
  PRIMARY KEY (topic, consumer_group, partition)
);
