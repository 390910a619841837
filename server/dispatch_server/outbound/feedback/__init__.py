"""Provider feedback: what comes back after a send. SES publishes its sending events
(deliveries, bounces, complaints...) to an SNS topic, and SNS posts them to
`POST /v1/webhooks/sns`. `sns` reads and verifies what SNS posts; `ses_events` reads the SES
event each verified notification carries. Neither knows HTTP nor the database."""
