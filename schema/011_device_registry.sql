-- The device registry: devices are registered (POST /api/devices, or by a writer
-- allowed to), never created by a reading. Decommissioning is a soft delete: the
-- row stays, so readings, rollups and alerts keep the device they belong to and a
-- refused reading can say the device was decommissioned rather than unknown;
-- registering the same id again clears the mark.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS decommissioned_at TIMESTAMPTZ;

-- The device list filters the devices in service by location and type.
CREATE INDEX IF NOT EXISTS idx_devices_in_service
  ON devices (location, device_type) WHERE decommissioned_at IS NULL;
