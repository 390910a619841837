"""Outbound mail: the transports that hand a composed message to a provider (`transports/`),
the outbox that calls them for queued sends and records what happened (`outbox`), and the
provider feedback that comes back (`feedback/`: SES events through SNS)."""
