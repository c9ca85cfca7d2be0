"""Forms of the accounts pages."""

from __future__ import annotations

from django import forms

from heliograph.web.accounts.services import MAX_PASSWORD_CHARS

# One message for an unknown e-mail, a wrong password and an account without a tenant, so the
# page does not tell an attacker which e-mail addresses have accounts (ASVS 2.2.1).
SIGN_IN_FAILED = "The e-mail or password is not correct."


class SignInForm(forms.Form):
    email = forms.CharField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        max_length=MAX_PASSWORD_CHARS * 4,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SwitchTenantForm(forms.Form):
    tenant = forms.IntegerField(min_value=1)
