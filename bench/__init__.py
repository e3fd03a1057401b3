"""Throughput benchmark: cdcsink against the raw Kafka client, side by side."""
