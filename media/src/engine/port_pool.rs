//! RTP ports from a configured range: even ports for RTP, the odd port above
//! each kept for RTCP (RFC 3550 section 11), handed out least recently used
//! first so a port is not reused while stray packets of its last call may
//! still arrive.

use std::collections::VecDeque;

/// No port is free: the call is refused (503 with Retry-After) and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no RTP port is free")]
pub struct PortsExhausted;

/// A configured range of RTP ports is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RTP port range {first}-{last} holds no even/odd pair")]
pub struct BadRange {
    /// First port of the range.
    pub first: u16,
    /// Last port of the range.
    pub last: u16,
}

/// The pool. Pure bookkeeping; binding the sockets is the engine's job, and
/// a port that turns out to be taken by another program is simply released
/// back with [`PortPool::quarantine`].
#[derive(Debug, Clone)]
pub struct PortPool {
    free: VecDeque<u16>,
    capacity: usize,
}

impl PortPool {
    /// All even ports `p` with `p + 1` also in `first..=last`.
    pub fn new(first: u16, last: u16) -> Result<PortPool, BadRange> {
        let start = first + (first % 2);
        let free: VecDeque<u16> = (start..last).step_by(2).collect();
        if free.is_empty() {
            return Err(BadRange { first, last });
        }
        let capacity = free.len();
        Ok(PortPool { free, capacity })
    }

    /// Takes the least recently used even port.
    pub fn allocate(&mut self) -> Result<u16, PortsExhausted> {
        self.free.pop_front().ok_or(PortsExhausted)
    }

    /// Gives a port back; it goes to the end of the queue.
    pub fn release(&mut self, port: u16) {
        debug_assert!(port % 2 == 0);
        if self.free.len() < self.capacity {
            self.free.push_back(port);
        }
    }

    /// A port the engine could not bind: it is kept out of rotation until
    /// the pool is rebuilt, and the capacity shrinks by one.
    pub fn quarantine(&mut self, _port: u16) {
        self.capacity = self.capacity.saturating_sub(1);
    }

    /// Ports free now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Pairs in the range (less quarantined ones).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp() {
        let mut pool = PortPool::new(10001, 10010).unwrap();
        assert_eq!(pool.capacity(), 4); // 10002, 10004, 10006, 10008 (10010 has no 10011)
        let ports: Vec<u16> = (0..4).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(ports, [10002, 10004, 10006, 10008]);
        assert_eq!(pool.allocate(), Err(PortsExhausted));
    }

    #[test]
    fn released_ports_come_back_last() {
        let mut pool = PortPool::new(20000, 20005).unwrap();
        let a = pool.allocate().unwrap();
        pool.release(a);
        assert_ne!(pool.allocate().unwrap(), a, "least recently used first");
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn a_range_without_a_pair_is_refused() {
        assert!(PortPool::new(20001, 20001).is_err());
        assert!(PortPool::new(20000, 20000).is_err());
    }
}
