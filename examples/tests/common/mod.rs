//! Shared by the end-to-end tests with real EC2 clients (`e2e_boto3.rs`, `e2e_awscli.rs`,
//! `e2e_boto2.rs`): the clients behind one interface, and the scenario they all run.
// Each test binary uses a different part of the clients module.
#![allow(dead_code)]

pub(crate) mod clients;
pub(crate) mod scenario;
