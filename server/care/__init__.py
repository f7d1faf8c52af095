"""Care planning and supervision: assessments, policies, purchased-service projects, statistics."""
