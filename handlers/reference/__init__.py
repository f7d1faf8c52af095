"""Districts, stations, organisations, staff appointments and the service catalogue."""
