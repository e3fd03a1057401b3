"""Debezium JSON (TiCDC's ``protocol=debezium``): the encoder and its decoder,
which also reads messages written by Debezium's own MySQL connector."""
