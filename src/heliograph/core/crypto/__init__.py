"""Envelope encryption: AES-256-GCM data keys per tenant, wrapped by a key encryption key."""
