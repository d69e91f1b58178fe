"""Running the service: migrations, the key lifecycle, background maintenance, demo data."""
