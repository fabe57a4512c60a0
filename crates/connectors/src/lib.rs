//! certwright-connectors: outbound adapters that implement core's ports towards the outside world — TLS and
//! filesystem discovery, deployment targets (Apache, nginx, SSH hosts, appliances), notifiers and upstream CAs.
//! It holds no adapter yet; the first arrives with deployment and discovery.
