-- The state machine's trigger runs after the row is written instead of before. A BEFORE ROW
-- UPDATE trigger makes PostgreSQL lock each row before updating it (to hand the trigger the
-- version it will replace), and that lock is a WAL record and a page write of its own: two
-- per delivery, one at its claim and one at its attempt record, 16% of all WAL records in
-- the fan-out benchmark (docs/perf/README.md, eighth round). An AFTER ROW trigger's WHEN
-- condition is evaluated on the old and new versions without a lock, and a legal transition
-- queues nothing. An illegal one is refused as before: the function raises when the
-- statement ends, and the statement, with the row it wrote, is rolled back.
DROP TRIGGER deliveries_follow_the_state_machine ON deliveries;
CREATE TRIGGER deliveries_follow_the_state_machine
    AFTER UPDATE OF status ON deliveries
    FOR EACH ROW
    WHEN (NOT (
        (OLD.status = NEW.status AND OLD.status IN ('pending', 'processing'))
        OR (OLD.status, NEW.status) IN (
            ('pending', 'processing'),
            ('processing', 'success'),
            ('processing', 'pending'),
            ('processing', 'failed'),
            ('failed', 'pending'),
            ('pending', 'failed'))))
    EXECUTE FUNCTION check_delivery_transition();
