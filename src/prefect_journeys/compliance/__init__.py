"""Consent, suppression, unsubscribe tokens and erasure: who may be contacted, and forgetting."""
