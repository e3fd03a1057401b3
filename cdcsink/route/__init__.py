"""Route: decide the topic and partition of each event (TiCDC dispatch rules)."""
