"""
The connection form of Airflow < 3.2, which the UI builds from the hook's wtforms widgets.

Airflow >= 3.2 reads the same fields from the provider info's ``conn-fields`` and
``ui-field-behaviour`` and never asks the hook; both forms are derived from that one dict, so they
cannot drift apart. :class:`~airflow_provider_octopods.hooks.octopods.OctopodsHook` defines the two
classmethods itself (Airflow 2.11 looks for them in the class's own ``__dict__``) and delegates here.
This module goes when the minimum Airflow is 3.2 (``version_compat.LEGACY_CONNECTION_FORM``).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_octopods.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR


def connection_form_widgets() -> dict[str, Any]:
    """Form widgets for the extra fields, derived from the provider's ``conn-fields``."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        label = lazy_gettext(spec["label"])
        common = {"description": spec.get("description", ""), "default": schema.get("default")}
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **common)
        elif "integer" in schema["type"]:
            widgets[name] = IntegerField(
                label, validators=[Optional(), NumberRange(min=0)], widget=BS3TextFieldWidget(), **common
            )
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **common)
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields, derived from the provider's ``ui-field-behaviour``."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
