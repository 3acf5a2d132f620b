-- The delivery state machine, enforced by the database itself (services/domain/src/status.rs
-- holds the same table and its tests):
--   pending    -> processing   a dispatcher claims it
--   processing -> processing   a lease that ran out is taken over
--   processing -> success | pending (retry scheduled) | failed
--   pending    -> pending      parked or re-timed (a new generation)
--   failed     -> pending      a manual retry from the DLQ
--   pending    -> failed       JetStream gave up on its job (redelivery limit)
-- success is final.
CREATE FUNCTION check_delivery_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = NEW.status AND OLD.status IN ('pending', 'processing') THEN
        RETURN NEW;
    END IF;
    IF (OLD.status, NEW.status) IN (
        ('pending', 'processing'),
        ('processing', 'success'),
        ('processing', 'pending'),
        ('processing', 'failed'),
        ('failed', 'pending'),
        ('pending', 'failed')
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'delivery % cannot go from % to %', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER deliveries_follow_the_state_machine
    BEFORE UPDATE OF status ON deliveries
    FOR EACH ROW EXECUTE FUNCTION check_delivery_transition();
