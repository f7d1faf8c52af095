"""Console pages: a station's daily work (being written)."""

from sanic import Blueprint

bp = Blueprint("console_work", url_prefix="/console")
