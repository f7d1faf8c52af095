"""Reference data every domain reads: the service catalogue, districts, stations and organisations."""
