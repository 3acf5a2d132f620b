-- Deliveries and their attempts are the hot tables: thousands of rows a second. A foreign key
-- costs each inserted row a lookup of its parent and a FOR KEY SHARE lock on it, and
-- concurrent batches locking the same webhook row turn those locks into MultiXacts: 15% of
-- PostgreSQL's CPU in the fan-out benchmark (docs/perf/README.md, fourth round). The rows
-- point at their parents by construction instead: a delivery is inserted by the statement
-- that inserts its event, from webhooks that statement matched; an attempt by the statement
-- that moves its delivery. The guarantee a foreign key gave, that a parent never vanishes
-- under its children, is kept by refusing to delete parents at all: events were already
-- immutable, webhooks are soft-deleted (deleted_at) and tenants disabled (status).
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_tenant_id_fkey,
    DROP CONSTRAINT deliveries_event_id_fkey,
    DROP CONSTRAINT deliveries_webhook_id_fkey;
ALTER TABLE delivery_attempts
    DROP CONSTRAINT delivery_attempts_delivery_id_fkey;

CREATE FUNCTION refuse_parent_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER tenants_are_not_deleted BEFORE DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION refuse_parent_delete();
CREATE TRIGGER tenants_are_not_truncated BEFORE TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_parent_delete();
CREATE TRIGGER webhooks_are_not_deleted BEFORE DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION refuse_parent_delete();
CREATE TRIGGER webhooks_are_not_truncated BEFORE TRUNCATE ON webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_parent_delete();
CREATE TRIGGER deliveries_are_not_deleted BEFORE DELETE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION refuse_parent_delete();
CREATE TRIGGER deliveries_are_not_truncated BEFORE TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_parent_delete();
