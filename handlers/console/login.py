"""Console pages: login (being written)."""

from sanic import Blueprint

bp = Blueprint("console_login", url_prefix="/console")
