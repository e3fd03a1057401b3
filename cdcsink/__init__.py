"""cdcsink: change events in, ordered Kafka messages out, checkpoints advanced only by acks."""

__version__ = "0.1.0"
