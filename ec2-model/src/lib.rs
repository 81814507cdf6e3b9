//! The Amazon EC2 Query API as real clients speak it: requests, responses, errors and signatures.
//!
//! This crate turns the HTTP requests of boto 2.49, boto3/botocore and the AWS CLI into typed
//! requests, and typed responses into the XML those clients parse, for the elastic IP, security
//! group and instance actions ([`Action`]). It holds no HTTP server and no state: give it method,
//! path, headers and body ([`HttpRequest`]), so any server framework can use it.
//!
//! * [`parse_request`] / [`parse_params`]: an [`HttpRequest`] (or decoded [`Params`]) to the
//!   [`ApiVersion`] and a typed [`Request`]; [`Request::to_params`] goes back.
//! * [`render`]: a typed [`Response`] to the XML of `<{Action}Response>`, in the namespace of the
//!   request's version.
//! * [`Ec2Error`]: every failure, with the EC2 code ([`ErrorCode`]), the HTTP status and the
//!   error envelope ([`Ec2Error::render_xml`]).
//! * [`filters`]: typed `Filter.N` keys and EC2 wildcard matching for the describe calls; the
//!   response types apply them (`Address::matches`, `SecurityGroup::matches`,
//!   `Reservation::filtered`...).
//! * [`auth`]: SigV4 (header and presigned) and SigV2 verification.
//!
//! # Behaviour worth knowing
//!
//! * Input is bounded ([`Limits`]: 1 MiB, 2000 parameters, 256-byte names, 64 KiB values) and
//!   decoded strictly: a bad `%` escape or non-UTF-8 text is `MalformedQueryString`, a repeated
//!   parameter `InvalidParameterValue`. Nothing panics on any input.
//! * Top-level parameters an action does not read are ignored (signature parameters,
//!   `ClientToken` where unused, boto 2's extra `RunInstances` options); unknown fields inside
//!   the structures read here (`IpPermissions.N.*`, `Filter.N.*`, `Name.N`) are
//!   `UnknownParameter`.
//! * Values are typed and canonical: protocol names for numbers (`6` is `tcp`), CIDR blocks with
//!   host bits cleared (as EC2 stores rules), boto 2's flat rule parameters as `IpPermission`s.
//!
//! # Example
//!
//! ```
//! use ec2_model::{parse_request, render, HttpRequest, Request, Response};
//!
//! // What boto3's `ec2.authorize_security_group_ingress(...)` POSTs.
//! let body = "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=web\
//!             &IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22\
//!             &IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=10.1.2.3%2F8";
//! let (version, request) = parse_request(&HttpRequest::form_post(body))?;
//! let Request::AuthorizeSecurityGroupIngress(rules) = &request else { unreachable!() };
//! assert_eq!(rules.permissions[0].ip_ranges[0].cidr.to_string(), "10.0.0.0/8");
//!
//! let xml = render(&Response::AuthorizeSecurityGroupIngress, version, "req-1");
//! assert!(xml.contains("<return>true</return>"));
//!
//! // Errors render to the envelope every client understands.
//! let err = parse_request(&HttpRequest::form_post("Action=Nope&Version=2016-11-15")).unwrap_err();
//! assert_eq!((err.http_status(), err.code()), (400, "InvalidAction"));
//! assert!(err.render_xml("req-2").contains("<Code>InvalidAction</Code>"));
//! # Ok::<(), ec2_model::Ec2Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod error;
pub mod filters;
pub mod http;
pub mod params;
pub mod request;
pub mod response;
pub mod types;
mod xml;

pub use error::{Ec2Error, ErrorCode};
pub use filters::{wildcard_match, Filter};
pub use http::HttpRequest;
pub use params::{Limits, Params};
pub use request::{parse_params, parse_request, Action, Request};
pub use response::{render, Response, CONTENT_TYPE};
pub use types::{ApiVersion, Domain, InstanceState, Ports, Protocol};
