//! Ports for services a test starts on an address it must know in advance (and may restart
//! on the same address).
//!
//! Asking the kernel for port 0 and closing the listener is not enough: until the service
//! binds, the port is back in the ephemeral range, where any outgoing connection on the
//! machine may take it as its local port (a chaos drill once lost its dispatcher to
//! `Address already in use` that way). These ports come from below the ephemeral range,
//! which the kernel never hands out on its own, one at a time from a counter shared by the
//! whole test process, each checked free before it is returned.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out; below it lie registered services' usual ports.
const FLOOR: u32 = 20_000;
/// The kernel's usual `ip_local_port_range` starts here.
const DEFAULT_EPHEMERAL_START: u32 = 32_768;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port nothing listens on, outside the kernel's ephemeral range.
pub fn unused_port() -> u16 {
    let ceiling = ephemeral_start().max(FLOOR + 1_000);
    let span = ceiling - FLOOR;
    // Test binaries run one after another, but a second one may run beside this (another
    // checkout's CI): start where the process id points rather than always at the floor.
    let _ = NEXT.compare_exchange(
        0,
        std::process::id() % span + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = u16::try_from(FLOOR + offset).expect("ports below the ephemeral range fit");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {FLOOR} and {ceiling}")
}

/// Where the kernel starts choosing local ports for outgoing connections.
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| unused_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!(u32::from(port) >= FLOOR && u32::from(port) < ephemeral_start());
            TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        }
    }
}
