"""The infrastructure layer: settings, the Redis connection, the embedded server, process
control, logging set-up, and the App that bundles what every core operation needs.
"""
