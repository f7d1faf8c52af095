"""Assessments, policies, purchased-service projects and statistics."""
