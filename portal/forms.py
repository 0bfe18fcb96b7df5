from django import forms
from django.contrib.auth.forms import AuthenticationForm

from portal import figures
from tenants import nodes
from tenants.models import Membership, Namespace, Sector

TTL_MAX = 2592000


def node_choices():
    return [(slug, f"{slug} — {nodes.describe(slug)}") for slug in nodes.NODE_CHOICES]


class SignupForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=8, help_text="At least 8 characters.")
    organization_name = forms.CharField(max_length=120, label="Organization name")
    sector = forms.ModelChoiceField(queryset=Sector.objects.all(), to_field_name="slug", empty_label=None)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)


class LoginForm(AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class ApiKeyForm(forms.Form):
    label = forms.CharField(max_length=120, required=False)
    namespaces = forms.ModelMultipleChoiceField(
        queryset=Namespace.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the key may use every namespace.",
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["namespaces"].queryset = Namespace.objects.filter(organization=organization).order_by("name")


class NamespaceForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Lowercase letters, digits, '-' and '_'.")
    nodes = forms.MultipleChoiceField(choices=node_choices, widget=forms.CheckboxSelectMultiple, required=False)
    default_ttl = forms.IntegerField(
        min_value=1, max_value=TTL_MAX, initial=Namespace.DEFAULT_TTL, label="Default TTL (seconds)"
    )


class NamespaceEditForm(NamespaceForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["name"]


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class RangeForm(forms.Form):
    """Dashboard range: a preset number of days ending today, or explicit dates."""

    PRESETS = (7, 30, 90, 365)
    days = forms.TypedChoiceField(choices=[(d, f"{d} days") for d in PRESETS], coerce=int, required=False)
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To")

    def _in_calendar(self, name):
        # The same bounds as /api/usage: dates near the calendar's end overflow the range arithmetic.
        day = self.cleaned_data.get(name)
        if day is not None and not figures.EARLIEST_DATE <= day <= figures.LATEST_DATE:
            raise forms.ValidationError(f"Choose a date between {figures.EARLIEST_DATE} and {figures.LATEST_DATE}.")
        return day

    def clean_start(self):
        return self._in_calendar("start")

    def clean_end(self):
        return self._in_calendar("end")
