"""Tenants: the customers whose data Heliograph keeps apart."""

from __future__ import annotations

from django.db import models


class Tenant(models.Model):
    """One customer organisation; every row of analytics data carries its id."""

    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
