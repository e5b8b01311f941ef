"""``python -m airflow_provider_octopods.simulator``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
