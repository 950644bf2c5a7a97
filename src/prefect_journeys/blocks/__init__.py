"""Prefect Blocks for credentials and the store (SendGrid, Twilio, JourneyStore).

Empty in this version: the local outbox needs no credentials. The channels issue adds them.
"""
