from config.settings import ConfigError, Settings, load

__all__ = ["ConfigError", "Settings", "load"]
