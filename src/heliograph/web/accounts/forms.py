"""Forms of the accounts pages."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from heliograph.web.accounts.services import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from heliograph.web.tenants.models import Role

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


class InviteForm(forms.Form):
    email = forms.CharField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "ana@example.com"}),
    )
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: list[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the roles the inviter may hand out are offered (the service checks again).
        role = cast(forms.ChoiceField, self.fields["role"])
        role.choices = [(choice.value, choice.label) for choice in roles]
        role.initial = Role.VIEWER.value


class NewAccountForm(forms.Form):
    password = forms.CharField(
        label="Password",
        max_length=MAX_PASSWORD_CHARS * 4,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text=f"{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.",
    )
    repeat = forms.CharField(
        label="Repeat the password",
        max_length=MAX_PASSWORD_CHARS * 4,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password") != cleaned.get("repeat"):
            self.add_error("repeat", "The two passwords differ.")
        return cleaned


class SecurityFilterForm(forms.Form):
    action = forms.RegexField(
        label="Action starts with",
        required=False,
        max_length=100,
        regex=r"^[a-z0-9_.]*$",
        error_messages={"invalid": "Use lower-case letters, digits, dots and underscores."},
        widget=forms.TextInput(attrs={"placeholder": "user.login", "spellcheck": "false"}),
    )
