//! Who is asking: verification of AWS Signature Version 4 and 2, as EC2 clients sign.
//!
//! [`Verifier::verify`] takes an [`HttpRequest`], the current time (this crate never reads a
//! clock) and a [`CredentialSource`], and returns the [`Authenticated`] caller or an
//! [`AuthError`] that converts into the [`Ec2Error`] EC2 would answer with. Three schemes are
//! recognised:
//!
//! - **SigV4 with an `Authorization` header** (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
//!   Signature=...`), for `POST` form bodies and `GET` query strings: boto3, botocore, the AWS CLI
//!   and boto 2.49 all sign this way. The canonical request follows AWS's rules exactly (path
//!   normalised and encoded twice, query decoded, re-encoded and sorted, signed headers lowercased
//!   with trimmed values, the SHA-256 of the body or a matching `X-Amz-Content-Sha256`).
//! - **SigV4 query authentication** (presigned URLs: `X-Amz-Algorithm`, `X-Amz-Credential`,
//!   `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`).
//! - **SigV2** (`SignatureVersion=2`, `SignatureMethod=HmacSHA256` or `HmacSHA1`, `Timestamp`
//!   or `Expires`), the older query signature.
//!
//! The credential scope is verified as the client sent it: any region and service name is
//! accepted (boto 2 derives region `0` and service `127` from a `127.0.0.1` endpoint), but its
//! date must be the date of `X-Amz-Date`. Requests more than 15 minutes away from now (in either
//! direction) and expired presigned or `Expires` requests are `RequestExpired`. Signatures are
//! compared in constant time.
//!
//! # Error codes
//!
//! EC2 answers a bad signature and an unknown access key alike with `AuthFailure` ("AWS was not
//! able to validate the provided access credentials", HTTP 401), not with the
//! `SignatureDoesNotMatch` / `InvalidClientTokenId` of other services; this module does the same
//! ([`AuthError::error_code`]). A missing or malformed part of a signature is
//! `IncompleteSignature`, a request without any authentication `MissingAuthenticationToken`.
//!
//! # Example
//!
//! ```
//! use ec2_model::auth::{Credential, InMemoryCredentials, SigV4Signer, Verifier};
//! use ec2_model::HttpRequest;
//! use time::macros::datetime;
//!
//! let credentials = InMemoryCredentials::new()
//!     .with("AKIDEXAMPLE", Credential::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "123456789012"));
//! let now = datetime!(2026-11-26 07:03:18 UTC);
//!
//! // A client signs...
//! let mut request = HttpRequest::form_post("Action=DescribeAddresses&Version=2016-11-15")
//!     .with_header("Host", "127.0.0.1:8773");
//! let signer = SigV4Signer::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "ec2");
//! signer.sign(&mut request, now).unwrap();
//!
//! // ...and the server verifies, with its own clock.
//! let verifier = Verifier::new(credentials);
//! let who = verifier.verify(&request, now + time::Duration::seconds(2)).unwrap();
//! assert_eq!(who.account_id, "123456789012");
//!
//! // One changed byte and the request is rejected as EC2 does.
//! request.body[7] = b'd';
//! let err = verifier.verify(&request, now).unwrap_err();
//! assert_eq!(err.error_code().as_str(), "AuthFailure");
//! ```

mod credentials;
mod encoding;
mod sign;
mod sigv2;
mod sigv4;
mod timestamp;

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

use crate::error::{quote, Ec2Error, ErrorCode};
use crate::http::HttpRequest;

pub use credentials::{Credential, CredentialSource, InMemoryCredentials};
pub use sign::{SigV2Signer, SigV4Signer};
pub use sigv2::SigV2Method;
pub use timestamp::{format_amz_date, format_iso8601};

/// The clock skew EC2 tolerates between a request's timestamp and the server's clock.
pub const DEFAULT_MAX_SKEW: Duration = Duration::minutes(15);

/// The longest validity a presigned request may claim (`X-Amz-Expires`): seven days, as AWS.
pub const MAX_PRESIGNED_EXPIRES: i64 = 604_800;

/// How a request was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// SigV4 in an `Authorization` header.
    SigV4Header,
    /// SigV4 in the query string (a presigned URL).
    SigV4Query,
    /// SigV2 parameters (`SignatureVersion=2`).
    SigV2,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::SigV4Header => "SigV4 (Authorization header)",
            Scheme::SigV4Query => "SigV4 (presigned query)",
            Scheme::SigV2 => "SigV2",
        })
    }
}

/// The caller of a request whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The access key id that signed.
    pub access_key_id: String,
    /// The account the access key belongs to.
    pub account_id: String,
    /// How the request was signed.
    pub scheme: Scheme,
    /// The region of the SigV4 credential scope, as the client sent it (`None` for SigV2).
    pub region: Option<String>,
    /// The service of the SigV4 credential scope, as the client sent it (`None` for SigV2).
    pub service: Option<String>,
    /// The session token the request carried (`X-Amz-Security-Token` or `SecurityToken`).
    pub session_token: Option<String>,
    /// The time the client signed at (`X-Amz-Date` or `Timestamp`; for a SigV2 request with
    /// `Expires`, that expiry).
    pub signed_at: OffsetDateTime,
}

/// Why a request did not authenticate. [`AuthError::error_code`] gives the EC2 code, and
/// `Ec2Error::from` the error a client should receive.
///
/// The `Display` text is meant for the server's log: for a signature mismatch it carries the
/// string to sign, which helps a client author compare with their own. Clients get
/// [`AuthError::client_message`], which does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no authentication at all.
    #[error(
        "the request carries no authentication: no Authorization header, no X-Amz-Signature \
         and no SigV2 Signature parameter"
    )]
    Missing,
    /// A part the scheme requires is absent.
    #[error("{scheme}: the request has no {part}")]
    MissingPart {
        /// The scheme being verified.
        scheme: Scheme,
        /// What is missing (`Signature in the Authorization header`, `X-Amz-Date header`...).
        part: &'static str,
    },
    /// A part is present but malformed.
    #[error("{scheme}: malformed {part}: expected {expected}, found {found:?}")]
    Malformed {
        /// The scheme being verified.
        scheme: Scheme,
        /// The malformed part.
        part: &'static str,
        /// What a well-formed value looks like.
        expected: &'static str,
        /// The value found (cut to a bounded length).
        found: String,
    },
    /// An algorithm or signature version this crate does not verify.
    #[error("unsupported {what}: {found:?}")]
    Unsupported {
        /// What is unsupported (`Authorization scheme`, `SignatureMethod`...).
        what: &'static str,
        /// The value found (cut to a bounded length).
        found: String,
    },
    /// The request is signed in two ways at once (an `Authorization` header and a presigned
    /// query).
    #[error("the request carries two authentications: {first} and {second}")]
    Conflicting {
        /// One scheme found.
        first: Scheme,
        /// The other scheme found.
        second: Scheme,
    },
    /// A header listed in `SignedHeaders` is not in the request.
    #[error("{scheme}: signed header {name:?} is not in the request")]
    SignedHeaderAbsent {
        /// The scheme being verified.
        scheme: Scheme,
        /// The header name as listed.
        name: String,
    },
    /// No credential is known for the access key id.
    #[error("unknown access key id {access_key_id:?}")]
    UnknownAccessKey {
        /// The access key id the request named.
        access_key_id: String,
    },
    /// The date of the credential scope is not the date of the request's timestamp.
    #[error("{scheme}: the credential scope date {scope_date} is not the date of {request_time}")]
    ScopeDateMismatch {
        /// The scheme being verified.
        scheme: Scheme,
        /// The date in the scope (`YYYYMMDD`).
        scope_date: String,
        /// The request's `X-Amz-Date`.
        request_time: String,
    },
    /// The signature is not the one the secret key gives.
    #[error("{scheme}: the signature does not match; the string to sign was {string_to_sign:?}")]
    SignatureMismatch {
        /// The scheme being verified.
        scheme: Scheme,
        /// The string the server signed (for the log: compare with the client's).
        string_to_sign: String,
    },
    /// `X-Amz-Content-Sha256` is not the SHA-256 of the body.
    #[error("X-Amz-Content-Sha256 {declared:?} is not the SHA-256 of the body ({actual})")]
    PayloadHashMismatch {
        /// The header's value (cut to a bounded length).
        declared: String,
        /// The hex SHA-256 of the body.
        actual: String,
    },
    /// The credential requires a session token and the request carries another one or none.
    #[error("the session token does not belong to access key {access_key_id:?}")]
    SessionTokenMismatch {
        /// The access key id the request named.
        access_key_id: String,
    },
    /// The request's timestamp is further from now than the allowed clock skew.
    #[error(
        "{scheme}: the request time {signed_at} is more than {max_skew} away from now ({now})"
    )]
    Skewed {
        /// The scheme being verified.
        scheme: Scheme,
        /// The request's timestamp.
        signed_at: OffsetDateTime,
        /// The time the request was verified at.
        now: OffsetDateTime,
        /// The allowed skew.
        max_skew: Duration,
    },
    /// The request's validity (`X-Amz-Expires`, SigV2 `Expires`) is over.
    #[error("{scheme}: the request expired at {expired_at} (now {now})")]
    Expired {
        /// The scheme being verified.
        scheme: Scheme,
        /// When the request stopped being valid.
        expired_at: OffsetDateTime,
        /// The time the request was verified at.
        now: OffsetDateTime,
    },
}

impl AuthError {
    /// The EC2 error code for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::MissingAuthenticationToken,
            AuthError::MissingPart { .. }
            | AuthError::Malformed { .. }
            | AuthError::Unsupported { .. }
            | AuthError::Conflicting { .. }
            | AuthError::SignedHeaderAbsent { .. } => ErrorCode::IncompleteSignature,
            AuthError::UnknownAccessKey { .. }
            | AuthError::ScopeDateMismatch { .. }
            | AuthError::SignatureMismatch { .. }
            | AuthError::PayloadHashMismatch { .. }
            | AuthError::SessionTokenMismatch { .. } => ErrorCode::AuthFailure,
            AuthError::Skewed { .. } | AuthError::Expired { .. } => ErrorCode::RequestExpired,
        }
    }

    /// The message a client receives: EC2's wording for `AuthFailure` (which reveals nothing
    /// about what failed), a description of the problem otherwise.
    pub fn client_message(&self) -> String {
        match self.error_code() {
            ErrorCode::AuthFailure => {
                "AWS was not able to validate the provided access credentials".to_owned()
            }
            ErrorCode::RequestExpired => format!("Request has expired: {self}"),
            _ => self.to_string(),
        }
    }
}

impl From<AuthError> for Ec2Error {
    fn from(e: AuthError) -> Self {
        Ec2Error::new(e.error_code(), e.client_message())
    }
}

/// Checks requests' signatures against a [`CredentialSource`].
///
/// A verifier is shared by reference between threads (`Verifier<C>` is `Sync` when `C` is). It
/// remembers the SigV4 signing keys it derived (one per secret, day, region and service, at most
/// [`SIGNING_KEY_CACHE_SIZE`]), which halves the cost of verifying a request.
pub struct Verifier<C> {
    credentials: C,
    max_skew: Duration,
    keys: Mutex<HashMap<String, [u8; 32]>>,
}

/// How many derived SigV4 signing keys a [`Verifier`] keeps; the cache is emptied when full.
pub const SIGNING_KEY_CACHE_SIZE: usize = 1024;

impl<C: fmt::Debug> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("credentials", &self.credentials)
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl<C: Clone> Clone for Verifier<C> {
    fn clone(&self) -> Self {
        Verifier {
            credentials: self.credentials.clone(),
            max_skew: self.max_skew,
            keys: Mutex::new(HashMap::new()),
        }
    }
}

impl<C: CredentialSource> Verifier<C> {
    /// A verifier with EC2's 15 minutes of clock skew.
    pub fn new(credentials: C) -> Self {
        Verifier {
            credentials,
            max_skew: DEFAULT_MAX_SKEW,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the allowed clock skew (builder style).
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// The credential source.
    pub fn credentials(&self) -> &C {
        &self.credentials
    }

    /// The allowed clock skew.
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }

    /// Verifies the request's signature at time `now`.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying what failed; `Ec2Error::from` turns it into EC2's answer.
    pub fn verify(
        &self,
        request: &HttpRequest,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AuthError> {
        let mut authorization = request.header_values("authorization");
        let header = authorization.next();
        if authorization.next().is_some() {
            return Err(AuthError::Malformed {
                scheme: Scheme::SigV4Header,
                part: "Authorization header",
                expected: "a single Authorization header",
                found: "several".to_owned(),
            });
        }
        let presigned = is_presigned(&request.query);
        match (header, presigned) {
            (Some(_), true) => Err(AuthError::Conflicting {
                first: Scheme::SigV4Header,
                second: Scheme::SigV4Query,
            }),
            (Some(h), false) => sigv4::verify_header(self, request, h, now),
            (None, true) => sigv4::verify_query(self, request, now),
            (None, false) => {
                if sigv2::is_sigv2(request) {
                    sigv2::verify(self, request, now)
                } else {
                    Err(AuthError::Missing)
                }
            }
        }
    }

    /// The credential of an access key, or `UnknownAccessKey`.
    fn credential(&self, access_key_id: &str) -> Result<Credential, AuthError> {
        self.credentials
            .credential(access_key_id)
            .ok_or_else(|| AuthError::UnknownAccessKey {
                access_key_id: quote(access_key_id),
            })
    }

    /// The SigV4 signing key of a secret and scope, derived once and then remembered.
    fn signing_key(&self, secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        // Length-prefixed parts: no two different tuples share an id.
        let mut id =
            String::with_capacity(secret.len() + date.len() + region.len() + service.len() + 16);
        for part in [secret, date, region, service] {
            let _ = write!(id, "{}:{part}", part.len());
        }
        // A poisoned lock only means another thread panicked while holding it; the map is
        // still a valid cache.
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = keys.get(&id) {
            return *key;
        }
        let key = sigv4::signing_key(secret, date, region, service);
        if keys.len() >= SIGNING_KEY_CACHE_SIZE {
            keys.clear();
        }
        keys.insert(id, key);
        key
    }

    /// Checks that `signed_at` is within the allowed skew of `now`.
    fn check_skew(
        &self,
        scheme: Scheme,
        signed_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        if (now - signed_at).abs() > self.max_skew {
            return Err(AuthError::Skewed {
                scheme,
                signed_at,
                now,
                max_skew: self.max_skew,
            });
        }
        Ok(())
    }
}

/// Whether the query carries SigV4 query-authentication parameters.
fn is_presigned(query: &str) -> bool {
    query.contains("X-Amz-")
        && encoding::raw_pairs(query).any(|(k, _)| {
            matches!(
                encoding::form_decode(k).as_ref(),
                b"X-Amz-Algorithm" | b"X-Amz-Signature" | b"X-Amz-Credential"
            )
        })
}

/// Checks a session token against the credential's, in constant time. A credential without a
/// token accepts any token (the token is then only recorded).
fn check_session_token(
    credential: &Credential,
    access_key_id: &str,
    sent: Option<&str>,
) -> Result<(), AuthError> {
    use subtle::ConstantTimeEq;
    match (credential.session_token(), sent) {
        (None, _) => Ok(()),
        (Some(expected), Some(sent)) if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) => {
            Ok(())
        }
        (Some(_), _) => Err(AuthError::SessionTokenMismatch {
            access_key_id: quote(access_key_id),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A credential source whose secret can change under a running verifier.
    struct Rotating(Mutex<String>);

    impl CredentialSource for Rotating {
        fn credential(&self, _: &str) -> Option<Credential> {
            let secret = self.0.lock().ok()?.clone();
            Some(Credential::new(secret, "111122223333"))
        }
    }

    fn signed(secret: &str, at: OffsetDateTime) -> HttpRequest {
        let mut r = HttpRequest::form_post("Action=DescribeAddresses&Version=2016-11-15")
            .with_header("Host", "localhost");
        SigV4Signer::new("AKID", secret, "us-east-1", "ec2")
            .sign(&mut r, at)
            .unwrap();
        r
    }

    #[test]
    fn cached_signing_keys_follow_secret_rotation() {
        let at = datetime!(2026-11-26 07:03:18 UTC);
        let v = Verifier::new(Rotating(Mutex::new("first".to_owned())));
        let first = signed("first", at);
        assert!(v.verify(&first, at).is_ok());
        assert!(v.verify(&first, at).is_ok(), "from the cache");
        *v.credentials().0.lock().unwrap() = "second".to_owned();
        let e = v.verify(&first, at).unwrap_err();
        assert!(matches!(e, AuthError::SignatureMismatch { .. }), "{e}");
        assert!(v.verify(&signed("second", at), at).is_ok());
        // Another day is another key.
        let later = at + Duration::days(1);
        assert!(v.verify(&signed("second", later), later).is_ok());
    }

    #[test]
    fn signing_key_cache_is_bounded_and_exact() {
        let v = Verifier::new(InMemoryCredentials::new());
        for i in 0..(SIGNING_KEY_CACHE_SIZE + 10) {
            let region = format!("r{i}");
            assert_eq!(
                v.signing_key("s", "20261126", &region, "ec2"),
                sigv4::signing_key("s", "20261126", &region, "ec2")
            );
        }
        assert!(v.keys.lock().unwrap().len() <= SIGNING_KEY_CACHE_SIZE);
        // Parts that would concatenate alike stay apart.
        assert_ne!(
            v.signing_key("s", "20261126", "a:b", "c"),
            v.signing_key("s", "20261126", "a", "b:c")
        );
        let clone = v.clone();
        assert!(clone.keys.lock().unwrap().is_empty());
        assert_eq!(clone.max_skew(), DEFAULT_MAX_SKEW);
    }

    #[test]
    fn error_codes_and_messages() {
        let e = AuthError::Missing;
        assert_eq!(e.error_code(), ErrorCode::MissingAuthenticationToken);
        let e = Ec2Error::from(AuthError::SignatureMismatch {
            scheme: Scheme::SigV2,
            string_to_sign: "secret stuff".to_owned(),
        });
        assert_eq!((e.code(), e.http_status()), ("AuthFailure", 401));
        assert!(!e.message().contains("secret stuff"));
        let e = Ec2Error::from(AuthError::Expired {
            scheme: Scheme::SigV4Query,
            expired_at: datetime!(2026-11-26 07:18:18 UTC),
            now: datetime!(2026-11-26 07:20:00 UTC),
        });
        assert_eq!((e.code(), e.http_status()), ("RequestExpired", 400));
        assert!(
            e.message().starts_with("Request has expired"),
            "{}",
            e.message()
        );
        let e = Ec2Error::from(AuthError::MissingPart {
            scheme: Scheme::SigV4Header,
            part: "X-Amz-Date header",
        });
        assert_eq!((e.code(), e.http_status()), ("IncompleteSignature", 400));
        assert!(e.message().contains("X-Amz-Date"), "{}", e.message());
        assert_eq!(Scheme::SigV4Query.to_string(), "SigV4 (presigned query)");
    }
}
