"""Checkpoint: track acknowledged progress and persist it.

The tracker turns acks into a checkpoint (the highest resolved ts with every
earlier event acknowledged); the store persists it with the source position
so a restart resumes there.
"""
