"""The job engine: Celery carries the announcements, our database holds the jobs of record
(see ``training.jobs``). The same task code runs in both modes; only the broker URL differs:
``sqla+sqlite`` in the data directory (no server) or RabbitMQ / Redis."""
