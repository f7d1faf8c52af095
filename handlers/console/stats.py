"""Console pages: stats (being written)."""

from sanic import Blueprint

bp = Blueprint("console_stats", url_prefix="/console")
