-- Rules in event time (see iotmon/core/rules.py):
-- * one reading beyond an alert limit alerts at once: breach_count defaults to 1, and the devices that kept the
--   old default of 2 (nobody chose it) follow the contract now;
-- * a breach may be asked to last before it alerts ("for 30 s"): breach_for_s;
-- * the trend line's window in seconds; NULL follows the device's reporting period;
-- * the values the sensor can physically give, which forecasts stay within (NULL: what the unit implies).
ALTER TABLE devices
  ALTER COLUMN breach_count SET DEFAULT 1,
  ADD COLUMN IF NOT EXISTS breach_for_s INTEGER NOT NULL DEFAULT 0 CHECK (breach_for_s >= 0),
  ADD COLUMN IF NOT EXISTS trend_window_s INTEGER CHECK (trend_window_s > 0),
  ADD COLUMN IF NOT EXISTS physical_min DECIMAL(10, 2),
  ADD COLUMN IF NOT EXISTS physical_max DECIMAL(10, 2);
UPDATE devices SET breach_count = 1 WHERE breach_count = 2;
