"""The platform's SMTP server: environment settings, or the operator's stored settings."""
