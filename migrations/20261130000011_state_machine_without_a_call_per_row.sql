-- The delivery state machine (0004) checked every status change by calling its PL/pgSQL
-- function, once per updated row: every claim and every attempt record paid for a function
-- call, 2.7% of PostgreSQL's profile samples in the fan-out benchmark (docs/perf/README.md,
-- sixth round). The same transitions are now allowed by the trigger's WHEN condition, which
-- PostgreSQL evaluates as a plain expression; the function runs only for a transition the
-- condition refuses, and raises as before.
DROP TRIGGER deliveries_follow_the_state_machine ON deliveries;
CREATE TRIGGER deliveries_follow_the_state_machine
    BEFORE UPDATE OF status ON deliveries
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
