"""One Sanic blueprint per resource: HTTP in, HTTP out, nothing else."""

from handlers.reference.admin import bp as admin
from handlers.care.assessments import bp as assessments
from handlers.care.complaints import bp as complaints
from handlers.care.deadlines import bp as deadlines
from handlers.people.auth import bp as auth
from handlers.people.console_tickets import bp as console_tickets
from handlers.notifications.callback import bp as wechat_callback
from handlers.reference.catalog import bp as catalog
from handlers.points.credit import bp as credit_admin
from handlers.points.credit import consent_bp as credit_consent
from handlers.health import bp as health
from handlers.reports.audit import bp as audit
from handlers.reports.certificates import bp as certificates
from handlers.reports.ledgers import bp as ledgers
from handlers.workflow.linkage import bp as linkage
from handlers.people.me import bp as me
from handlers.workflow.needs import bp as needs
from handlers.notifications.notifications import bp as notifications
from handlers.workflow.pairings import bp as pairings
from handlers.points.points import adjust_bp as points_adjust
from handlers.care.policies import bp as policies
from handlers.care.projects import bp as projects
from handlers.workflow.referrals import bp as referrals
from handlers.points.points import admin_bp as points_admin
from handlers.points.points import bp as points
from handlers.points.points import leaderboard_bp as leaderboard
from handlers.people.residents import bp as residents
from handlers.points.rewards import admin_bp as rewards_admin
from handlers.points.rewards import bp as rewards
from handlers.points.rewards import redemptions_bp as redemptions
from handlers.reference.stations import bp as stations
from handlers.care.stats import bp as stats
from handlers.console import blueprints as console
from handlers.workflow.tasks import bp as tasks
from handlers.workflow.uploads import bp as uploads
from handlers.people.volunteers import bp as volunteers

blueprints = [health, auth, me, residents, volunteers, stations, admin, catalog, needs, tasks, uploads, points,
              points_admin, leaderboard, rewards, redemptions, rewards_admin,
              credit_admin, credit_consent, certificates, points_adjust, notifications, wechat_callback,
              assessments, complaints, deadlines, policies, stats, referrals, linkage, projects, ledgers, audit, pairings, console_tickets, *console]
