-- no-transaction
-- The outbox index of deliveries' later jobs (retries, deferrals, manual retries), which
-- takes the place of `deliveries_unpublished` in the next migration. Built CONCURRENTLY, so
-- claims and records go on meanwhile; CONCURRENTLY cannot run inside a transaction, hence
-- this migration of one statement outside one. Should the build fail, it leaves an invalid
-- index of this name: drop it (DROP INDEX CONCURRENTLY deliveries_unpublished_retries) and
-- start the service again.
CREATE INDEX CONCURRENTLY deliveries_unpublished_retries
    ON deliveries ((coalesce(next_attempt_at, created_at)))
    WHERE published_at IS NULL AND generation > 0;
