//! The media engine: RTP legs on sockets from a port pool, latching, relay
//! and the media loop. Work in progress.

pub mod latch;
pub mod port_pool;
