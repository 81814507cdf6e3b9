//! The controller assembled from the workspace's libraries, and the end-to-end [`testbed`]
//! its tests run on: a private Open vSwitch and network namespaces.
//!
//! - [`core`]: the sans-IO controller core (switch sessions, reconciliation, changes with
//!   barrier-tracked completions, pinholes, ARP duties), tested with a simulated switch.
//! - [`shell`]: the thin tokio shell around it (listeners, a reader and a writer task per
//!   switch connection, timers) and the `controller` binary's configuration.
//! - [`store`]: durable state behind a `Store` trait (SQLite, embedded), restored on restart.
//! - [`api`]: the EC2 Query API (accounts, pool, images, instances, elastic IPs, security
//!   groups) executed on the controller and served over HTTP.
//! - [`admin`]: the JSON admin API (instances, groups, addresses, switches, desired and
//!   installed flows) behind a bearer token.
//! - [`xmlrpc`]: the XML-RPC drop-in for the 2012 deployment's control API (OpenNebula's
//!   hooks), on the same model, store and flow pipeline as the EC2 API.
//! - [`ops`]: Prometheus metrics (`/metrics`) and a health check (`/health`) next to the API.
//! - [`speed`]: speed measurements through real Open vSwitch and the EC2 API, each next
//!   to a baseline measured in the same run.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod app;
pub mod core;
pub mod httpd;
pub mod loadgen;
pub mod ops;
pub mod shell;
pub mod speed;
pub mod store;
pub mod testbed;
pub mod xmlrpc;
