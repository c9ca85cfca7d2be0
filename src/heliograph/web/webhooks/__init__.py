"""Webhooks of a tenant: signed JSON deliveries to an HTTPS endpoint the tenant controls."""
