//! Where secret keys come from: the [`CredentialSource`] trait and an in-memory source.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The secret behind an access key id, and the account it belongs to.
///
/// `Debug` never prints the secret key or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    secret_access_key: String,
    account_id: String,
    session_token: Option<String>,
}

impl Credential {
    /// A long-term credential: a secret access key and the account id it acts for.
    pub fn new(secret_access_key: impl Into<String>, account_id: impl Into<String>) -> Self {
        Credential {
            secret_access_key: secret_access_key.into(),
            account_id: account_id.into(),
            session_token: None,
        }
    }

    /// Requires requests signed with this credential to carry this session token
    /// (`X-Amz-Security-Token`), as temporary credentials do. Without one, any token a request
    /// carries is accepted and only reported.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The session token requests must carry, if any.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Maps access key ids to their credentials.
///
/// Implement it over whatever holds the keys (a file, a database); [`InMemoryCredentials`] is a
/// map. Lookups happen once per request, after the request's shape and time checked out.
pub trait CredentialSource {
    /// The credential of `access_key_id`, or `None` if the key is unknown.
    fn credential(&self, access_key_id: &str) -> Option<Credential>;
}

impl<T: CredentialSource + ?Sized> CredentialSource for &T {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        (**self).credential(access_key_id)
    }
}

impl<T: CredentialSource + ?Sized> CredentialSource for Arc<T> {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        (**self).credential(access_key_id)
    }
}

impl<T: CredentialSource + ?Sized> CredentialSource for Box<T> {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        (**self).credential(access_key_id)
    }
}

/// Credentials held in a map.
///
/// ```
/// use ec2_model::auth::{Credential, CredentialSource, InMemoryCredentials};
///
/// let keys = InMemoryCredentials::new().with("AKID1", Credential::new("secret", "111122223333"));
/// assert_eq!(keys.credential("AKID1").map(|c| c.account_id().to_owned()), Some("111122223333".into()));
/// assert!(keys.credential("AKID2").is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryCredentials {
    keys: HashMap<String, Credential>,
}

impl InMemoryCredentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the credential of an access key id (builder style).
    pub fn with(mut self, access_key_id: impl Into<String>, credential: Credential) -> Self {
        self.insert(access_key_id, credential);
        self
    }

    /// Adds (or replaces) the credential of an access key id; returns the previous one.
    pub fn insert(
        &mut self,
        access_key_id: impl Into<String>,
        credential: Credential,
    ) -> Option<Credential> {
        self.keys.insert(access_key_id.into(), credential)
    }

    /// Removes an access key id; returns its credential.
    pub fn remove(&mut self, access_key_id: &str) -> Option<Credential> {
        self.keys.remove(access_key_id)
    }

    /// How many access keys are known.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no access key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl CredentialSource for InMemoryCredentials {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        self.keys.get(access_key_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credential::new("s3cr3t", "123456789012").with_session_token("t0k3n");
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t") && !d.contains("t0k3n"), "{d}");
        assert!(d.contains("123456789012"));
    }

    #[test]
    fn map_and_wrappers() {
        let mut m = InMemoryCredentials::new();
        assert!(m.is_empty());
        assert_eq!(m.insert("A", Credential::new("x", "1")), None);
        assert_eq!(
            m.insert("A", Credential::new("y", "1"))
                .map(|c| c.secret_access_key().to_owned()),
            Some("x".into())
        );
        assert_eq!(m.len(), 1);
        let arc = Arc::new(m.clone());
        assert_eq!(
            arc.credential("A")
                .map(|c| c.secret_access_key().to_owned()),
            Some("y".into())
        );
        let boxed: Box<dyn CredentialSource> = Box::new(m.clone());
        assert!(boxed.credential("B").is_none());
        let by_ref: &dyn CredentialSource = &&m;
        assert!(by_ref.credential("A").is_some());
        assert!(m.remove("A").is_some());
        assert!(m.credential("A").is_none());
    }
}
