"""Maxwell JSON (TiCDC's ``protocol=maxwell``): the encoder and its decoder."""
