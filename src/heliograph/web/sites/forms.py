"""Forms of the site pages."""

from __future__ import annotations

import re

from django import forms


class SiteForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    domains = forms.CharField(
        label="Allowed domains",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "www.example.com\n*.example.com"}),
        help_text="One per line. *.example.com also allows every subdomain.",
    )

    def domain_list(self) -> list[str]:
        """Return the domains as entered, split on lines, commas and spaces."""
        return [d for d in re.split(r"[\s,]+", self.cleaned_data["domains"]) if d]
