"""Events: wake-ups for waiters now; the durable event stream later."""
