-- The five seed devices of the line (the simulator sends as them). A re-run leaves edited
-- configuration alone: operators own it once it exists.
INSERT INTO devices (device_id, name, device_type, location, unit,
                     normal_min, normal_max, alert_min, alert_max, update_period_ms)
VALUES
  ('device-001', 'Temperature sensor #1', 'temperature', 'assembly-line-1', 'celsius',     20, 80,  15,   85,   2000),
  ('device-002', 'Pressure sensor #2',    'pressure',    'assembly-line-1', 'psi',         10, 50,   5,   55,   3000),
  ('device-003', 'Vibration sensor #3',   'vibration',   'assembly-line-2', 'hz',           0, 100, NULL, 120,  1000),
  ('device-004', 'Production counter #4', 'production',  'packaging-line-1', 'units/hour', 100, 500, 50,  NULL, 5000),
  ('device-005', 'Quality sensor #5',     'quality',     'quality-control-1', 'percentage', 85, 100, 80, NULL, 4000)
ON CONFLICT (device_id) DO NOTHING;
