"""The staff console's pages, one blueprint per kind of work (all under ``/console``)."""

from handlers.console.admin import bp as admin
from handlers.console.admin_care import bp as admin_care
from handlers.console.admin_departments import bp as admin_departments
from handlers.console.admin_rewards import bp as admin_rewards
from handlers.console.audit import bp as audit
from handlers.console.care import bp as care
from handlers.console.credit import bp as credit
from handlers.console.deadlines import bp as deadlines
from handlers.console.login import bp as login
from handlers.console.pages import bp as pages
from handlers.console.people import bp as people
from handlers.console.stats import bp as stats
from handlers.console.work import bp as work

blueprints = [pages, login, work, people, care, deadlines, stats, admin, admin_rewards, admin_care, admin_departments,
              audit, credit]
