"""Console pages: admin_care (being written)."""

from sanic import Blueprint

bp = Blueprint("console_admin_care", url_prefix="/console")
