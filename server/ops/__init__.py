"""Operations across domains: scheduled jobs, key rotation, admin tools, demo data."""
