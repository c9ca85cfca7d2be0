"""Forms of the webhook pages."""

from __future__ import annotations

from django import forms

from heliograph.web.webhooks.models import WebhookEvent


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/heliograph"}),
        help_text="HTTPS only. Heliograph POSTs signed JSON to it.",
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Security events of this workspace to send.",
    )
