//! Tests of the store: row-level writes, model round trips, restart, atomicity.

use super::*;
use crate::core::sim_switch::test_settings;
use netrules::model::{AllocationId, Attachment, Peer, PortRange, Protocol, Switch};
use openflow_proto::{MacAddr, PortNo};
use proptest::prelude::*;

fn owner() -> OwnerId {
    OwnerId::new("111122223333").unwrap()
}

fn gid(s: &str) -> GroupId {
    GroupId::new(s).unwrap()
}

fn iid(s: &str) -> InstanceId {
    InstanceId::new(s).unwrap()
}

fn perm(port: u16) -> Permission {
    Permission::new(Protocol::Tcp(PortRange::single(port)), Peer::anywhere()).unwrap()
}

fn eip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, n)
}

fn base() -> Model {
    let mut m = Model::new(test_settings()).unwrap();
    m.add_switch(Switch {
        dpid: u64::MAX - 1, // above i64::MAX: stored by bit pattern
        uplink: PortNo(1),
    })
    .unwrap();
    m.add_switch(Switch {
        dpid: 2,
        uplink: PortNo(1),
    })
    .unwrap();
    for g in ["sg-a", "sg-b"] {
        m.add_group(SecurityGroup::new(gid(g), g, owner(), "desc"))
            .unwrap();
    }
    for (n, name) in [(1u8, "i-1"), (2, "i-2"), (3, "i-3")] {
        m.add_instance(Instance {
            id: iid(name),
            owner: owner(),
            mac: MacAddr([2, 0, 0, 0, 1, n]),
            ip: Ipv4Addr::new(10, 0, 1, n),
            groups: [gid("sg-a")].into(),
            attachment: None,
        })
        .unwrap();
    }
    m
}

fn same(a: &Model, b: &Model) -> bool {
    serde_json::to_value(a).unwrap() == serde_json::to_value(b).unwrap()
}

#[test]
fn empty_store_has_no_model() {
    let s = SqliteStore::open_in_memory().unwrap();
    let stored = s.load().unwrap();
    assert!(stored.model.is_none());
    assert!(stored.accounts.is_empty() && stored.pool.is_empty());
}

#[test]
fn a_model_round_trips() {
    let mut m = base();
    m.authorize(&gid("sg-a"), Direction::Ingress, perm(22))
        .unwrap();
    m.authorize(
        &gid("sg-a"),
        Direction::Ingress,
        Permission::new(Protocol::Any, Peer::Group(gid("sg-b"))).unwrap(),
    )
    .unwrap();
    m.attach(
        &iid("i-1"),
        Some(Attachment {
            switch: u64::MAX - 1,
            port: PortNo(7),
        }),
    )
    .unwrap();
    m.allocate(ElasticIp {
        public_ip: eip(10),
        allocation_id: AllocationId::new("eipalloc-1").unwrap(),
        owner: owner(),
        instance: Some(iid("i-1")),
    })
    .unwrap();
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.commit(&initial_writes(&m)).unwrap();
    let back = s.load().unwrap().model.unwrap();
    assert!(same(&m, &back));
}

#[test]
fn accounts_and_pool() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let a = Account {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: "secret".into(),
        owner: owner(),
    };
    s.commit(&[
        Write::PutAccount(a.clone()),
        Write::AddPoolAddress(eip(10)),
        Write::AddPoolAddress(eip(11)),
        Write::AddPoolAddress(eip(11)),
    ])
    .unwrap();
    s.commit(&[Write::RemovePoolAddress(eip(10))]).unwrap();
    let st = s.load().unwrap();
    assert_eq!(st.accounts, vec![a]);
    assert_eq!(st.pool, [eip(11)].into());
    s.commit(&[Write::DeleteAccount("AKIDEXAMPLE".into())])
        .unwrap();
    assert!(s.load().unwrap().accounts.is_empty());
}

#[test]
fn records_are_kept_by_kind_and_key() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let put = |kind: &str, key: &str, value: &str| Write::PutRecord {
        kind: kind.into(),
        key: key.into(),
        value: value.into(),
    };
    s.commit(&[
        put("instance", "i-1", "{\"image\":\"ami-1\"}"),
        put("instance", "i-2", "{}"),
        put("other", "i-1", "x"),
        put("instance", "i-2", "{\"image\":\"ami-2\"}"),
    ])
    .unwrap();
    s.commit(&[Write::DeleteRecord {
        kind: "other".into(),
        key: "i-1".into(),
    }])
    .unwrap();
    let st = s.load().unwrap();
    assert_eq!(st.records.len(), 2);
    assert_eq!(
        st.records[&("instance".to_owned(), "i-2".to_owned())],
        "{\"image\":\"ami-2\"}"
    );
}

#[test]
fn a_failing_batch_changes_nothing() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let m = base();
    s.commit(&initial_writes(&m)).unwrap();
    // Break the database under the second write of a batch: the first is rolled back.
    s.conn.execute_batch("DROP TABLE pool").unwrap();
    let err = s
        .commit(&[
            Write::DeleteInstance(iid("i-1")),
            Write::AddPoolAddress(eip(1)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    s.conn
        .execute_batch("CREATE TABLE pool (ip TEXT PRIMARY KEY)")
        .unwrap();
    let back = s.load().unwrap().model.unwrap();
    assert!(back.instance(&iid("i-1")).is_some());
}

#[test]
fn a_restart_restores_everything() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.sqlite3");
    let _ = std::fs::remove_file(&path);
    let mut m = base();
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.commit(&initial_writes(&m)).unwrap();
        let before = m.clone();
        m.authorize(&gid("sg-b"), Direction::Ingress, perm(80))
            .unwrap();
        m.remove_instance(&iid("i-3")).unwrap();
        s.commit(&model_writes(&before, &m)).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let back = s.load().unwrap().model.unwrap();
    assert!(same(&m, &back));
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_rows_are_reported_with_their_key() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.commit(&initial_writes(&base())).unwrap();
    s.conn
        .execute("UPDATE instances SET mac = 'nonsense' WHERE id = 'i-2'", [])
        .unwrap();
    match s.load() {
        Err(StoreError::Corrupt { what, key, .. }) => {
            assert_eq!((what, key.as_str()), ("instance mac", "i-2"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.sqlite3");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::SchemaVersion { found: 99, .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Clone, Debug)]
enum Op {
    Authorize(u8, u16, bool),
    Revoke(u8, u16, bool),
    Join(u8, u8),
    Leave(u8, u8),
    Allocate(u8),
    Release(u8),
    Associate(u8, u8),
    Disassociate(u8),
    Attach(u8, u16),
    Detach(u8),
    AddInstance(u8),
    RemoveInstance(u8),
    RenameGroup(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2u8, 20..25u16, any::<bool>()).prop_map(|(g, p, e)| Op::Authorize(g, p, e)),
        (0..2u8, 20..25u16, any::<bool>()).prop_map(|(g, p, e)| Op::Revoke(g, p, e)),
        (0..4u8, 0..2u8).prop_map(|(i, g)| Op::Join(i, g)),
        (0..4u8, 0..2u8).prop_map(|(i, g)| Op::Leave(i, g)),
        (0..3u8).prop_map(Op::Allocate),
        (0..3u8).prop_map(Op::Release),
        (0..3u8, 0..4u8).prop_map(|(e, i)| Op::Associate(e, i)),
        (0..3u8).prop_map(Op::Disassociate),
        (0..4u8, 2..6u16).prop_map(|(i, p)| Op::Attach(i, p)),
        (0..4u8).prop_map(Op::Detach),
        (0..4u8).prop_map(Op::AddInstance),
        (0..4u8).prop_map(Op::RemoveInstance),
        (0..2u8).prop_map(Op::RenameGroup),
    ]
}

fn name(i: u8) -> InstanceId {
    iid(&format!("i-{}", i + 1))
}

fn group(g: u8) -> GroupId {
    gid(if g == 0 { "sg-a" } else { "sg-b" })
}

fn apply(m: &mut Model, op: &Op) {
    let dir = |e: bool| {
        if e {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    };
    let _ = match op {
        Op::Authorize(g, p, e) => m.authorize(&group(*g), dir(*e), perm(*p)),
        Op::Revoke(g, p, e) => m.revoke(&group(*g), dir(*e), &perm(*p)),
        Op::Join(i, g) => m.join_group(&name(*i), &group(*g)),
        Op::Leave(i, g) => m.leave_group(&name(*i), &group(*g)),
        Op::Allocate(e) => m.allocate(ElasticIp {
            public_ip: eip(10 + e),
            allocation_id: AllocationId::new(format!("eipalloc-{e}")).unwrap(),
            owner: owner(),
            instance: None,
        }),
        Op::Release(e) => m.release(eip(10 + e)),
        Op::Associate(e, i) => m.associate(eip(10 + e), &name(*i), true),
        Op::Disassociate(e) => m.disassociate(eip(10 + e)),
        Op::Attach(i, p) => m.attach(
            &name(*i),
            Some(Attachment {
                switch: 2,
                port: PortNo(*p),
            }),
        ),
        Op::Detach(i) => m.attach(&name(*i), None),
        Op::AddInstance(i) => m.add_instance(Instance {
            id: name(*i),
            owner: owner(),
            mac: MacAddr([2, 0, 0, 0, 1, i + 1]),
            ip: Ipv4Addr::new(10, 0, 1, i + 1),
            groups: [gid("sg-b")].into(),
            attachment: None,
        }),
        Op::RemoveInstance(i) => m.remove_instance(&name(*i)),
        Op::RenameGroup(g) => {
            // Metadata changes go through remove + add (the model has no rename): only an
            // unused group can be replaced.
            let id = group(*g);
            let old = m.group(&id).cloned();
            match old {
                Some(mut old) if m.remove_group(&id).is_ok() => {
                    old.description.push('!');
                    m.add_group(old)
                }
                _ => Ok(netrules::model::Touched::none()),
            }
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After any sequence of changes, each committed as the row-level writes between the
    /// models, the store loads back exactly the current model.
    #[test]
    fn row_level_writes_keep_the_store_equal_to_the_model(ops in proptest::collection::vec(op(), 1..25)) {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let mut m = base();
        s.commit(&initial_writes(&m)).unwrap();
        for op in &ops {
            let before = m.clone();
            apply(&mut m, op);
            s.commit(&model_writes(&before, &m)).unwrap();
        }
        let back = s.load().unwrap().model.unwrap();
        prop_assert!(same(&m, &back));
        // And an unchanged model needs no write.
        prop_assert!(model_writes(&m, &back).is_empty());
    }
}
