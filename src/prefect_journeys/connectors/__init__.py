"""Channels: the interface every provider implements, and the local outbox."""
