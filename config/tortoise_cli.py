"""``TORTOISE_ORM`` for Tortoise's own CLI (``tortoise makemigrations``), from the same settings."""

from config.settings import load

TORTOISE_ORM = load().tortoise_config()
