"""The sink: the usage layer over the Kafka client layer (batching, DDL barrier, watermarks, acks)."""
