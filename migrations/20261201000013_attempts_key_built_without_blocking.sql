-- no-transaction
-- The index that becomes delivery_attempts' primary key in the next migration, built without
-- blocking the attempt records written meanwhile (a plain CREATE INDEX would hold them for
-- the whole build on a large table). CONCURRENTLY cannot run inside a transaction, hence
-- this migration of one statement outside one. Should the build fail, it leaves an invalid
-- index of this name: drop it (DROP INDEX CONCURRENTLY delivery_attempts_by_delivery_and_number)
-- and start the service again.
CREATE UNIQUE INDEX CONCURRENTLY delivery_attempts_by_delivery_and_number
    ON delivery_attempts (delivery_id, attempt);
