//! [`Store`] in an embedded SQLite database.

use super::{Account, Store, StoreError, Stored, Write};
use core::net::Ipv4Addr;
use netrules::model::{
    Attachment, Direction, ElasticIp, GroupId, Instance, Model, OwnerId, Permission, SecurityGroup,
    Settings, Switch,
};
use openflow_proto::PortNo;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The schema version this program writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    access_key TEXT PRIMARY KEY, secret_key TEXT NOT NULL, owner TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pool (ip TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS switches (dpid INTEGER PRIMARY KEY, uplink INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rules (
    group_id TEXT NOT NULL, direction TEXT NOT NULL, permission TEXT NOT NULL,
    PRIMARY KEY (group_id, direction, permission));
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, mac TEXT NOT NULL, ip TEXT NOT NULL,
    groups TEXT NOT NULL, attachment TEXT);
CREATE TABLE IF NOT EXISTS elastic_ips (
    public_ip TEXT PRIMARY KEY, allocation_id TEXT NOT NULL, owner TEXT NOT NULL,
    instance TEXT);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key));
";

/// A [`Store`] in one SQLite database file (or in memory).
///
/// Every [`Store::commit`] is one transaction. The file uses write-ahead logging, so readers
/// (a backup, an inspection with `sqlite3`) do not block the controller.
#[derive(Debug)]
pub struct SqliteStore {
    pub(super) conn: Connection,
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // Serialising these plain data types to JSON cannot fail (no maps with non-string keys,
    // no fallible Serialize impls); an empty string would fail to load, loudly.
    serde_json::to_string(v).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn parse_str<T: std::str::FromStr>(
    what: &'static str,
    key: &str,
    text: &str,
) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt {
        what,
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// Datapath ids are unsigned 64-bit; SQLite integers are signed: store the bit pattern.
fn dpid_to_sql(d: u64) -> i64 {
    i64::from_be_bytes(d.to_be_bytes())
}

fn dpid_from_sql(v: i64) -> u64 {
    u64::from_be_bytes(v.to_be_bytes())
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::init(conn)
    }

    /// A database in memory (for tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaVersion {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(SqliteStore { conn })
    }

    fn write(tx: &Transaction<'_>, w: &Write) -> Result<(), StoreError> {
        match w {
            Write::Settings(s) => {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('settings', ?1)",
                    params![json(s)],
                )?;
            }
            Write::PutSwitch(s) => {
                tx.execute(
                    "INSERT OR REPLACE INTO switches (dpid, uplink) VALUES (?1, ?2)",
                    params![dpid_to_sql(s.dpid), s.uplink.0],
                )?;
            }
            Write::DeleteSwitch(d) => {
                tx.execute(
                    "DELETE FROM switches WHERE dpid = ?1",
                    params![dpid_to_sql(*d)],
                )?;
            }
            Write::PutGroup(g) => {
                tx.execute(
                    "INSERT OR REPLACE INTO groups (id, name, owner, description)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![g.id.as_str(), g.name, g.owner.as_str(), g.description],
                )?;
                tx.execute(
                    "DELETE FROM rules WHERE group_id = ?1",
                    params![g.id.as_str()],
                )?;
                for (d, set) in [
                    (Direction::Ingress, &g.ingress),
                    (Direction::Egress, &g.egress),
                ] {
                    for p in set {
                        Self::put_rule(tx, &g.id, d, p)?;
                    }
                }
            }
            Write::DeleteGroup(id) => {
                tx.execute(
                    "DELETE FROM rules WHERE group_id = ?1",
                    params![id.as_str()],
                )?;
                tx.execute("DELETE FROM groups WHERE id = ?1", params![id.as_str()])?;
            }
            Write::PutRule {
                group,
                direction,
                permission,
            } => Self::put_rule(tx, group, *direction, permission)?,
            Write::DeleteRule {
                group,
                direction,
                permission,
            } => {
                tx.execute(
                    "DELETE FROM rules WHERE group_id = ?1 AND direction = ?2 AND permission = ?3",
                    params![group.as_str(), direction_name(*direction), json(permission)],
                )?;
            }
            Write::PutInstance(i) => {
                tx.execute(
                    "INSERT OR REPLACE INTO instances (id, owner, mac, ip, groups, attachment)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        i.id.as_str(),
                        i.owner.as_str(),
                        i.mac.to_string(),
                        i.ip.to_string(),
                        json(&i.groups),
                        i.attachment.map(|a| json(&(a.switch, a.port.0))),
                    ],
                )?;
            }
            Write::DeleteInstance(id) => {
                tx.execute("DELETE FROM instances WHERE id = ?1", params![id.as_str()])?;
            }
            Write::PutElasticIp(e) => {
                tx.execute(
                    "INSERT OR REPLACE INTO elastic_ips (public_ip, allocation_id, owner, instance)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        e.public_ip.to_string(),
                        e.allocation_id.as_str(),
                        e.owner.as_str(),
                        e.instance.as_ref().map(|i| i.as_str().to_owned()),
                    ],
                )?;
            }
            Write::DeleteElasticIp(ip) => {
                tx.execute(
                    "DELETE FROM elastic_ips WHERE public_ip = ?1",
                    params![ip.to_string()],
                )?;
            }
            Write::PutAccount(a) => {
                tx.execute(
                    "INSERT OR REPLACE INTO accounts (access_key, secret_key, owner)
                     VALUES (?1, ?2, ?3)",
                    params![a.access_key, a.secret_key, a.owner.as_str()],
                )?;
            }
            Write::DeleteAccount(key) => {
                tx.execute("DELETE FROM accounts WHERE access_key = ?1", params![key])?;
            }
            Write::AddPoolAddress(ip) => {
                tx.execute(
                    "INSERT OR IGNORE INTO pool (ip) VALUES (?1)",
                    params![ip.to_string()],
                )?;
            }
            Write::RemovePoolAddress(ip) => {
                tx.execute("DELETE FROM pool WHERE ip = ?1", params![ip.to_string()])?;
            }
            Write::PutRecord { kind, key, value } => {
                tx.execute(
                    "INSERT OR REPLACE INTO records (kind, key, value) VALUES (?1, ?2, ?3)",
                    params![kind, key, value],
                )?;
            }
            Write::DeleteRecord { kind, key } => {
                tx.execute(
                    "DELETE FROM records WHERE kind = ?1 AND key = ?2",
                    params![kind, key],
                )?;
            }
        }
        Ok(())
    }

    fn put_rule(
        tx: &Transaction<'_>,
        group: &GroupId,
        d: Direction,
        p: &Permission,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT OR IGNORE INTO rules (group_id, direction, permission) VALUES (?1, ?2, ?3)",
            params![group.as_str(), direction_name(d), json(p)],
        )?;
        Ok(())
    }

    fn load_model(&self, settings: Settings) -> Result<Model, StoreError> {
        let c = &self.conn;
        let mut switches = Vec::new();
        let mut stmt = c.prepare("SELECT dpid, uplink FROM switches ORDER BY dpid")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u16>(1)?)))?;
        for row in rows {
            let (d, u) = row?;
            switches.push(Switch {
                dpid: dpid_from_sql(d),
                uplink: PortNo(u),
            });
        }

        let mut groups: BTreeMap<String, SecurityGroup> = BTreeMap::new();
        let mut stmt = c.prepare("SELECT id, name, owner, description FROM groups")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (id, name, owner, description) = row?;
            let gid = GroupId::new(id.as_str())?;
            let mut g = SecurityGroup::new(gid, name, OwnerId::new(owner)?, description);
            g.egress.clear();
            groups.insert(id, g);
        }
        let mut stmt = c.prepare("SELECT group_id, direction, permission FROM rules")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (gid, dir, perm) = row?;
            let p: Permission = parse("rule", &gid, &perm)?;
            let g = groups.get_mut(&gid).ok_or_else(|| StoreError::Corrupt {
                what: "rule",
                key: gid.clone(),
                reason: "its group does not exist".to_owned(),
            })?;
            match dir.as_str() {
                "ingress" => g.ingress.insert(p),
                "egress" => g.egress.insert(p),
                other => {
                    return Err(StoreError::Corrupt {
                        what: "rule",
                        key: gid.clone(),
                        reason: format!("unknown direction {other:?}"),
                    })
                }
            };
        }

        let mut instances = Vec::new();
        let mut stmt =
            c.prepare("SELECT id, owner, mac, ip, groups, attachment FROM instances ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        for row in rows {
            let (id, owner, mac, ip, gs, at) = row?;
            let groups: BTreeSet<GroupId> = parse("instance groups", &id, &gs)?;
            let attachment = match at {
                None => None,
                Some(text) => {
                    let (switch, port): (u64, u16) = parse("instance attachment", &id, &text)?;
                    Some(Attachment {
                        switch,
                        port: PortNo(port),
                    })
                }
            };
            instances.push(Instance {
                mac: parse_str("instance mac", &id, &mac)?,
                ip: parse_str("instance ip", &id, &ip)?,
                id: netrules::model::InstanceId::new(id.as_str())?,
                owner: OwnerId::new(owner)?,
                groups,
                attachment,
            });
        }

        let mut eips = Vec::new();
        let mut stmt = c.prepare(
            "SELECT public_ip, allocation_id, owner, instance FROM elastic_ips ORDER BY public_ip",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (ip, alloc, owner, inst) = row?;
            eips.push(ElasticIp {
                public_ip: parse_str("elastic ip", &ip, &ip)?,
                allocation_id: netrules::model::AllocationId::new(alloc)?,
                owner: OwnerId::new(owner)?,
                instance: inst.map(netrules::model::InstanceId::new).transpose()?,
            });
        }
        Ok(Model::from_parts(
            settings,
            switches,
            groups.into_values(),
            instances,
            eips,
        )?)
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Stored, StoreError> {
        let c = &self.conn;
        let mut accounts = Vec::new();
        let mut stmt =
            c.prepare("SELECT access_key, secret_key, owner FROM accounts ORDER BY access_key")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (access_key, secret_key, owner) = row?;
            accounts.push(Account {
                access_key,
                secret_key,
                owner: OwnerId::new(owner)?,
            });
        }
        let mut pool = BTreeSet::new();
        let mut stmt = c.prepare("SELECT ip FROM pool")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for row in rows {
            let ip = row?;
            pool.insert(parse_str::<Ipv4Addr>("pool address", &ip, &ip)?);
        }
        let settings: Option<String> = c
            .query_row("SELECT value FROM meta WHERE key = 'settings'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let model = match settings {
            None => None,
            Some(text) => Some(self.load_model(parse("settings", "settings", &text)?)?),
        };
        let mut records = BTreeMap::new();
        let mut stmt = c.prepare("SELECT kind, key, value FROM records")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (kind, key, value) = row?;
            records.insert((kind, key), value);
        }
        Ok(Stored {
            accounts,
            pool,
            model,
            records,
        })
    }

    fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for w in writes {
            Self::write(&tx, w)?;
        }
        tx.commit()?;
        Ok(())
    }
}
