-- What escalate-cron's every-minute retention needs (applied on top of 004,
-- which stays as it is): each DELETE of expired rows finds them by index
-- instead of scanning the table every tick.
CREATE INDEX IF NOT EXISTS idx_device_stats_hourly_hour ON device_stats_hourly (hour_timestamp);
CREATE INDEX IF NOT EXISTS idx_system_events_timestamp ON system_events (timestamp);
CREATE INDEX IF NOT EXISTS idx_alerts_resolved_at ON alerts (resolved_at) WHERE status = 'resolved';
