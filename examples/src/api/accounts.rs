//! API accounts: access keys mapped to owner ids, shared with the signature verifier.

use crate::store::Account;
use ec2_model::auth::{Credential, CredentialSource};
use netrules::model::{ModelError, OwnerId};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The access keys the API accepts (cheap to clone; clones share the keys).
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    keys: Arc<RwLock<HashMap<String, Account>>>,
}

impl Accounts {
    /// The given accounts.
    pub fn new(accounts: impl IntoIterator<Item = Account>) -> Self {
        let keys = accounts
            .into_iter()
            .map(|a| (a.access_key.clone(), a))
            .collect();
        Accounts {
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    /// Add (or replace) an account.
    pub fn insert(&self, account: Account) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(account.access_key.clone(), account);
    }

    /// The account of an access key.
    pub fn get(&self, access_key: &str) -> Option<Account> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.get(access_key).cloned()
    }

    /// Every account, by access key.
    pub fn all(&self) -> Vec<Account> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Account> = keys.values().cloned().collect();
        v.sort_by(|a, b| a.access_key.cmp(&b.access_key));
        v
    }

    /// The distinct owner ids.
    pub fn owners(&self) -> Vec<OwnerId> {
        let mut v: Vec<OwnerId> = self.all().into_iter().map(|a| a.owner).collect();
        v.sort();
        v.dedup();
        v
    }

    /// True if there is no account.
    pub fn is_empty(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Make a new account with a random access key id (`AKIA` and 16 upper-case letters and
    /// digits, like AWS's), a random 40-character secret and a random 12-digit owner id.
    /// The caller stores it and adds it.
    pub fn generate() -> Result<Account, ModelError> {
        const KEY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = rand::thread_rng();
        let mut pick = |alphabet: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
                .collect()
        };
        let access_key = format!("AKIA{}", pick(KEY, 16));
        let secret_key = pick(SECRET, 40);
        let digits = pick(b"0123456789", 11);
        let owner = format!("{}{digits}", rand::thread_rng().gen_range(1..=9));
        Ok(Account {
            access_key,
            secret_key,
            owner: OwnerId::new(owner)?,
        })
    }
}

impl CredentialSource for Accounts {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        self.get(access_key_id)
            .map(|a| Credential::new(a.secret_key, a.owner.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_look_like_aws_keys_and_differ() {
        let a = Accounts::generate().unwrap();
        let b = Accounts::generate().unwrap();
        assert!(a.access_key.starts_with("AKIA") && a.access_key.len() == 20);
        assert_eq!(a.secret_key.len(), 40);
        assert_eq!(a.owner.as_str().len(), 12);
        assert!(a.owner.as_str().bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a.access_key, b.access_key);
        assert_ne!(a.secret_key, b.secret_key);
    }

    #[test]
    fn credentials_come_from_the_accounts() {
        let acc = Accounts::generate().unwrap();
        let accounts = Accounts::new([acc.clone()]);
        let c = accounts.credential(&acc.access_key).unwrap();
        assert_eq!(c.secret_access_key(), acc.secret_key);
        assert_eq!(c.account_id(), acc.owner.as_str());
        assert!(accounts.credential("AKIAUNKNOWN").is_none());
    }
}
