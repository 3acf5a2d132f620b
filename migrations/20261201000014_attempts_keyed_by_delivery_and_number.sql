-- An attempt is named by its delivery and its number, which were already unique; its own
-- uuid was never read (the API lists a delivery's attempts by number). Every attempt
-- recorded paid for that uuid's index entry beside the unique key's, on the hot path. The
-- index built by the previous migration becomes the primary key (no rebuild, no scan: both
-- columns are NOT NULL), and the uuid and the old unique key go.
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_delivery_id_attempt_key;
ALTER TABLE delivery_attempts DROP COLUMN id;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_pkey
    PRIMARY KEY USING INDEX delivery_attempts_by_delivery_and_number;
