"""Mail in: the one ingest pipeline, and the doors that feed it (doors/: SMTP; later SES/SQS).
The dev webhook door is an HTTP route, in dispatch_server.api.webhooks."""
