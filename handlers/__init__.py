"""One Sanic blueprint per resource: HTTP in, HTTP out, nothing else."""

from handlers.admin import bp as admin
from handlers.assessments import bp as assessments
from handlers.auth import bp as auth
from handlers.callback import bp as wechat_callback
from handlers.catalog import bp as catalog
from handlers.credit import bp as credit_admin
from handlers.health import bp as health
from handlers.ledgers import bp as ledgers
from handlers.me import bp as me
from handlers.needs import bp as needs
from handlers.notifications import bp as notifications
from handlers.pairings import bp as pairings
from handlers.points import adjust_bp as points_adjust
from handlers.policies import bp as policies
from handlers.projects import bp as projects
from handlers.referrals import bp as referrals
from handlers.points import admin_bp as points_admin
from handlers.points import bp as points
from handlers.points import leaderboard_bp as leaderboard
from handlers.residents import bp as residents
from handlers.rewards import admin_bp as rewards_admin
from handlers.rewards import bp as rewards
from handlers.rewards import redemptions_bp as redemptions
from handlers.stations import bp as stations
from handlers.stats import bp as stats
from handlers.tasks import bp as tasks
from handlers.uploads import bp as uploads
from handlers.volunteers import bp as volunteers

blueprints = [health, auth, me, residents, volunteers, stations, admin, catalog, needs, tasks, uploads, points,
              points_admin, leaderboard, rewards, redemptions, rewards_admin,
              credit_admin, points_adjust, notifications, wechat_callback,
              assessments, policies, stats, referrals, projects, ledgers, pairings]
