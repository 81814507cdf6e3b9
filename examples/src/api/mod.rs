//! The EC2 Query API on the controller: accounts, the public address pool, the image
//! catalog, instances, elastic IPs and security groups, served over HTTP.
//!
//! - [`Ec2Service`] executes typed [`ec2_model::Request`]s for an authenticated account. Every
//!   change runs as one [`crate::shell::Handle::change_with`]: validated against (a copy of) the
//!   model, committed to the store together with the API's own records (instance metadata,
//!   address domains), then compiled into flow_mods and barriers. The call answers after the
//!   affected switches acknowledged (bounded wait); a switch that is away is reconciled when it
//!   returns.
//! - [`server`] is the axum/hyper front end: it turns an HTTP request into an
//!   [`ec2_model::HttpRequest`], verifies its signature (SigV4 header or query, SigV2) against
//!   the accounts, parses it, calls the service and renders the XML answer or EC2's error
//!   envelope.
//! - [`Accounts`] holds the access keys; [`Accounts::generate`] makes the pair a first start
//!   prints.
//!
//! The API's changes are serialised (one model change at a time, in the order they were
//! committed); waiting for the switches is not, so a slow switch delays only the calls that
//! touch it.

mod accounts;
pub mod server;
mod service;

pub use accounts::Accounts;
pub use service::{ApiConfig, Ec2Service, ImageSpec, InstanceMeta, StartError};

#[cfg(test)]
mod tests;
