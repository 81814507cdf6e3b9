//! The Amazon EC2 Query API as real clients speak it: requests, responses, errors and signatures.
//!
//! This crate is being built (see the project's issues); it is an empty placeholder for now.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
