"""Settings classes and the environment variables that override them."""

from config.settings import (
    Base,
    Development,
    Production,
    Testing,
    config_for,
    settings_from_environment,
)

__all__ = [
    "Base",
    "Development",
    "Production",
    "Testing",
    "config_for",
    "settings_from_environment",
]
