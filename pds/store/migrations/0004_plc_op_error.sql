-- Operations the PLC directory refused (published = -1) keep the reason.
ALTER TABLE plc_op ADD COLUMN error TEXT;
