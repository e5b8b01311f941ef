"""Provider registration: entry point, Airflow's own schemas, and the connection form on both Airflows."""

from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_octopods import __version__
from airflow_provider_octopods.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
from airflow_provider_octopods.hooks.octopods import OctopodsHook

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_entry_point_resolves_to_get_provider_info() -> None:
    (entry_point,) = [
        entry
        for entry in metadata.entry_points(group="apache_airflow_provider")
        if entry.dist is not None and entry.dist.name == "airflow-provider-octopods"
    ]
    assert entry_point.load() is get_provider_info
    assert metadata.version("airflow-provider-octopods") == __version__


def test_metadata_validates_against_airflows_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_field_behaviour_validates_against_airflows_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(OctopodsHook.get_ui_field_behaviour(), schema)


def test_conn_fields_validate_against_the_provider_yaml_schema_where_it_defines_them() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    item = schema["properties"]["connection-types"]["items"]
    if "conn-fields" not in item.get("properties", {}):
        pytest.skip("this Airflow predates conn-fields (added in 3.2)")
    for connection_type in get_provider_info()["connection-types"]:
        jsonschema.validate(connection_type, item)


def test_every_registered_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("hooks", "sensors", "triggers", "operators"):
        for entry in info.get(section, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info.get("notifications", []):
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_ui_field_behaviour_is_derived_from_the_provider_info() -> None:
    assert OctopodsHook.get_ui_field_behaviour() == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }
    assert UI_FIELD_BEHAVIOUR["relabeling"] == {"host": "Base URL"}


def test_form_widgets_match_the_conn_fields() -> None:
    pytest.importorskip("flask_appbuilder", reason="the pre-3.2 form needs the FAB UI stack")
    from flask import Flask
    from wtforms import Form, PasswordField

    widgets = OctopodsHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)
    app = Flask(__name__)
    with app.test_request_context():
        from flask_babel import Babel

        Babel(app)
        form_class: Any = type("OctopodsForm", (Form,), dict(widgets))
        form = form_class()
        for name, spec in CONN_FIELDS.items():
            field = getattr(form, name)
            assert str(field.label.text) == spec["label"]
            assert (field.type == PasswordField.__name__) == (spec["schema"].get("format") == "password")
            assert field.default == spec["schema"].get("default")


def test_providers_manager_registers_the_connection_type_and_its_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-octopods" in manager.providers
    hook_info = manager.hooks["octopods"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_octopods.hooks.octopods.OctopodsHook"
    assert hook_info.connection_id_attribute_name == "octopods_conn_id"
    assert hook_info.hook_name == "Octopods"
    widgets = manager.connection_form_widgets
    if "extra__octopods__whatsapp_api_key" not in widgets:
        # Airflow 3.0 and 3.1 read neither conn-fields (3.2+) nor, without the FAB UI stack, the hook's
        # form widgets here; their UI builds the form through a mocked FAB instead.
        pytest.importorskip("wtforms", reason="no conn-fields support and no FAB stack on this Airflow")
    for name, spec in CONN_FIELDS.items():
        widget = widgets[f"extra__octopods__{name}"]
        assert widget.hook_class_name.endswith("OctopodsHook")  # 2.x stores the bare class name
        assert widget.is_sensitive == (spec["schema"].get("format") == "password")
    behaviour = manager.field_behaviours["octopods"]
    assert behaviour["relabeling"] == {"host": "Base URL"}
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "password", "port"}
