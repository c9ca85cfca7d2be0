"""The JSON API under /api/v1/: tokens, sites, dashboards and security events, with OpenAPI."""
