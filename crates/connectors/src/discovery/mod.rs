//! Discovery: finding certificates where they are used. `targets` reads what to scan (hosts, CIDR ranges,
//! ports) and keeps scans inside the allowed ranges; `tls` connects to endpoints and records the chain each one
//! serves (with `legacy` for servers rustls refuses); `files` walks directories for certificate files and key
//! stores (`jks` reads Java keystores). Nothing here touches the inventory: core decides what a finding means.

pub mod files;
pub mod glob;
pub mod jks;
pub mod legacy;
pub mod targets;
pub mod tls;
