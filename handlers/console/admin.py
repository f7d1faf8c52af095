"""Console pages: admin (being written)."""

from sanic import Blueprint

bp = Blueprint("console_admin", url_prefix="/console")
