"""The district recipe (deploy/) run for real: replicas on PostgreSQL behind the shipped nginx site."""
