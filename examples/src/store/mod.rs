//! The controller's durable state: accounts, the public address pool, and the network model
//! (settings, switches, security groups and their rules, instances, elastic IPs with their
//! associations).
//!
//! [`Store`] is the seam: [`Store::load`] reads everything, [`Store::commit`] applies a batch
//! of [`Write`]s atomically. [`SqliteStore`] keeps it in an embedded SQLite database; a
//! networked database (for several controllers sharing state) implements the same two
//! methods. Writes are row-level (one group, one rule, one instance...), so a change costs
//! what it touches, and [`model_writes`] derives them from two models when the caller does
//! not know them.
//!
//! The controller commits a change before it takes effect ([`crate::shell::spawn_with_store`]):
//! if the commit fails, the model is left as it was and the change is refused. Port bindings
//! the controller learns from switches are not written: they are learned again when the
//! switches reconnect.
//!
//! ```
//! use examples::store::{model_writes, SqliteStore, Store};
//! use examples::core::sim_switch::test_settings;
//! use netrules::model::{Model, Switch};
//! use openflow_proto::PortNo;
//!
//! let mut store = SqliteStore::open_in_memory()?;
//! let empty = Model::new(test_settings())?;
//! let mut model = empty.clone();
//! model.add_switch(Switch { dpid: 1, uplink: PortNo(1) })?;
//! store.commit(&examples::store::initial_writes(&empty))?;
//! store.commit(&model_writes(&empty, &model))?;
//! let back = store.load()?.model.expect("settings were stored");
//! assert_eq!(back.switches().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod sqlite;

pub use sqlite::SqliteStore;

use core::net::Ipv4Addr;
use netrules::model::{
    Direction, Dpid, ElasticIp, GroupId, Instance, InstanceId, Model, OwnerId, Permission,
    SecurityGroup, Settings, Switch,
};
use std::collections::{BTreeMap, BTreeSet};

/// An API account: an access key pair and the owner id its resources belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// The account's owner id.
    pub owner: OwnerId,
}

/// One row-level write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Replace the network settings.
    Settings(Settings),
    /// Insert or replace a switch.
    PutSwitch(Switch),
    /// Delete a switch.
    DeleteSwitch(Dpid),
    /// Insert or replace a group with all its rules.
    PutGroup(SecurityGroup),
    /// Delete a group and its rules.
    DeleteGroup(GroupId),
    /// Add one rule to a group.
    PutRule {
        /// The group.
        group: GroupId,
        /// Ingress or egress.
        direction: Direction,
        /// The rule.
        permission: Permission,
    },
    /// Remove one rule from a group.
    DeleteRule {
        /// The group.
        group: GroupId,
        /// Ingress or egress.
        direction: Direction,
        /// The rule.
        permission: Permission,
    },
    /// Insert or replace an instance.
    PutInstance(Instance),
    /// Delete an instance.
    DeleteInstance(InstanceId),
    /// Insert or replace an elastic IP (its allocation and association).
    PutElasticIp(ElasticIp),
    /// Delete (release) an elastic IP.
    DeleteElasticIp(Ipv4Addr),
    /// Insert or replace an account.
    PutAccount(Account),
    /// Delete an account by access key.
    DeleteAccount(String),
    /// Add an address to the public pool.
    AddPoolAddress(Ipv4Addr),
    /// Remove an address from the public pool.
    RemovePoolAddress(Ipv4Addr),
    /// Insert or replace a record of an API layer's own (for example an instance's image
    /// and launch time): an opaque text value under a kind and a key.
    PutRecord {
        /// What kind of record (a namespace: "instance", ...).
        kind: String,
        /// Its key within the kind.
        key: String,
        /// Its value (JSON, by convention).
        value: String,
    },
    /// Delete a record.
    DeleteRecord {
        /// The kind.
        kind: String,
        /// The key.
        key: String,
    },
}

/// Everything a store holds.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The accounts.
    pub accounts: Vec<Account>,
    /// The public address pool.
    pub pool: BTreeSet<Ipv4Addr>,
    /// The network model, if settings were ever stored.
    pub model: Option<Model>,
    /// API-layer records by (kind, key) (see [`Write::PutRecord`]).
    pub records: BTreeMap<(String, String), String>,
}

/// A store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored value cannot be read back.
    #[error("stored {what} {key:?} is corrupt: {reason}")]
    Corrupt {
        /// What kind of row.
        what: &'static str,
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The stored rows do not make a valid model.
    #[error("stored model is invalid: {0}")]
    Model(#[from] netrules::model::ModelError),
    /// The database was written by a newer schema.
    #[error("database schema version {found} is newer than this program's {supported}")]
    SchemaVersion {
        /// Found in the database.
        found: i64,
        /// The newest this program knows.
        supported: i64,
    },
}

/// Durable state (see the module docs).
pub trait Store {
    /// Read everything.
    fn load(&self) -> Result<Stored, StoreError>;
    /// Apply `writes` in order, atomically: all or none.
    fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError>;
}

/// The writes that store `model` into an empty store.
pub fn initial_writes(model: &Model) -> Vec<Write> {
    let mut w = vec![Write::Settings(*model.settings())];
    w.extend(model.switches().values().copied().map(Write::PutSwitch));
    w.extend(model.groups().values().cloned().map(Write::PutGroup));
    w.extend(model.instances().values().cloned().map(Write::PutInstance));
    w.extend(
        model
            .elastic_ips()
            .values()
            .cloned()
            .map(Write::PutElasticIp),
    );
    w
}

/// The writes that turn a store holding `before` into one holding `after` (a full comparison:
/// linear in the size of the models).
pub fn model_writes(before: &Model, after: &Model) -> Vec<Write> {
    let mut w = Vec::new();
    if before.settings() != after.settings() {
        w.push(Write::Settings(*after.settings()));
    }
    for (d, s) in after.switches() {
        if before.switch(*d) != Some(s) {
            w.push(Write::PutSwitch(*s));
        }
    }
    for d in before.switches().keys() {
        if after.switch(*d).is_none() {
            w.push(Write::DeleteSwitch(*d));
        }
    }
    for (id, g) in after.groups() {
        match before.group(id) {
            Some(old) if old == g => {}
            Some(old)
                if old.name == g.name
                    && old.owner == g.owner
                    && old.description == g.description =>
            {
                for (direction, new_rules, old_rules) in [
                    (Direction::Ingress, &g.ingress, &old.ingress),
                    (Direction::Egress, &g.egress, &old.egress),
                ] {
                    for p in new_rules.difference(old_rules) {
                        w.push(Write::PutRule {
                            group: id.clone(),
                            direction,
                            permission: p.clone(),
                        });
                    }
                    for p in old_rules.difference(new_rules) {
                        w.push(Write::DeleteRule {
                            group: id.clone(),
                            direction,
                            permission: p.clone(),
                        });
                    }
                }
            }
            _ => w.push(Write::PutGroup(g.clone())),
        }
    }
    for id in before.groups().keys() {
        if after.group(id).is_none() {
            w.push(Write::DeleteGroup(id.clone()));
        }
    }
    for (id, i) in after.instances() {
        if before.instance(id) != Some(i) {
            w.push(Write::PutInstance(i.clone()));
        }
    }
    for id in before.instances().keys() {
        if after.instance(id).is_none() {
            w.push(Write::DeleteInstance(id.clone()));
        }
    }
    for (ip, e) in after.elastic_ips() {
        if before.elastic_ip(*ip) != Some(e) {
            w.push(Write::PutElasticIp(e.clone()));
        }
    }
    for ip in before.elastic_ips().keys() {
        if after.elastic_ip(*ip).is_none() {
            w.push(Write::DeleteElasticIp(*ip));
        }
    }
    w
}

#[cfg(test)]
mod tests;
