"""Console pages: admin_rewards (being written)."""

from sanic import Blueprint

bp = Blueprint("console_admin_rewards", url_prefix="/console")
