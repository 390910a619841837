"""`dispatch-server worker`: the SES inbound worker (S3 event notifications through SQS) with
its heartbeat, and the retention purge. See dispatch_server.worker.consumer."""
