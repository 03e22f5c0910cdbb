//! The rewrite rules, one file each. Every file starts with What / Why /
//! Example / Safety. Rules only *plan*: they return [`crate::plan::Change`]s
//! (or header operations for `crate::headers`) and notes, and never apply
//! anything themselves.

pub mod connection;
pub mod http_version;
pub mod proxy_host;
pub mod proxy_pass;
pub mod upstream_block;
pub mod upstream_keepalive;
pub mod websocket;
pub mod websocket_map;
