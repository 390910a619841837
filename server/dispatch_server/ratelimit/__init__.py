"""Route rate limits: the policies routes name (`policy`), the one rule that decides (`gcra`),
and the backends that keep the counters, in memory or in a shared Redis (`limiter`).

The HTTP side (who the client is, the headers, the 429) is dispatch_server.http.rate_limits.
"""
