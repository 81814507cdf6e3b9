//! The whole controller in one call: the state store, the OpenFlow listeners and core, and
//! the EC2 API server. The `controller` binary is [`App::start`] plus logging and signals;
//! tests start the same thing in-process.

use crate::api::{server, Accounts, Ec2Service, StartError};
use crate::core::Controller;
use crate::shell::cli::{default_pool, Resolved};
use crate::shell::{self, Handle};
use crate::store::{Account, SqliteStore, Store, StoreError, Write};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The API could not start.
    #[error("EC2 API: {0}")]
    Api(#[from] StartError),
    /// Generating the first account failed.
    #[error("creating the first account: {0}")]
    Account(String),
}

/// A running controller.
#[derive(Debug)]
pub struct App {
    /// The controller core's handle.
    pub handle: Handle,
    /// The EC2 service.
    pub service: Ec2Service,
    /// The OpenFlow listeners' addresses.
    pub openflow: Vec<SocketAddr>,
    /// The EC2 API's address.
    pub api: SocketAddr,
    /// The account this start created (no account was configured or stored): print it.
    pub created_account: Option<Account>,
    /// The public address pool in use.
    pub pool: BTreeSet<Ipv4Addr>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl App {
    /// Start everything from a resolved configuration and its opened store (see
    /// [`Resolved::open_state`]).
    pub async fn start(resolved: Resolved, mut store: SqliteStore) -> Result<App, AppError> {
        let stored = store.load()?;
        // Accounts: the configured ones are stored; with none at all, create one.
        let mut writes = Vec::new();
        let mut accounts: Vec<Account> = stored.accounts.clone();
        for a in &resolved.accounts {
            if !accounts.contains(a) {
                accounts.retain(|x| x.access_key != a.access_key);
                accounts.push(a.clone());
                writes.push(Write::PutAccount(a.clone()));
            }
        }
        let mut created_account = None;
        if accounts.is_empty() {
            let a = Accounts::generate().map_err(|e| AppError::Account(e.to_string()))?;
            writes.push(Write::PutAccount(a.clone()));
            accounts.push(a.clone());
            created_account = Some(a);
        }
        // The pool: the configured one replaces the stored one; the default fills an empty
        // store.
        let pool = match &resolved.pool {
            Some(p) => p.clone(),
            None if stored.pool.is_empty() => default_pool(),
            None => stored.pool.clone(),
        };
        for ip in pool.difference(&stored.pool) {
            writes.push(Write::AddPoolAddress(*ip));
        }
        for ip in stored.pool.difference(&pool) {
            if resolved.model.elastic_ip(*ip).is_some() {
                warn!(%ip, "address left the pool but stays allocated until released");
            }
            writes.push(Write::RemovePoolAddress(*ip));
        }
        store.commit(&writes)?;
        let controller = Controller::new(resolved.model.clone(), resolved.config.clone());
        let handle = shell::spawn_with_store(controller, Box::new(store), &resolved.listen)
            .await
            .map_err(|source| AppError::Listen {
                addr: format!("{:?}", resolved.listen),
                source,
            })?;
        let openflow = handle.local_addrs().to_vec();
        let service = Ec2Service::start(
            handle.clone(),
            Accounts::new(accounts),
            pool.clone(),
            resolved.api.clone(),
            &stored,
        )
        .await?;
        let listener = TcpListener::bind(resolved.api_listen)
            .await
            .map_err(|source| AppError::Listen {
                addr: resolved.api_listen.to_string(),
                source,
            })?;
        let api = listener.local_addr().map_err(|source| AppError::Listen {
            addr: resolved.api_listen.to_string(),
            source,
        })?;
        info!(%api, "serving the EC2 API");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, service.clone(), async move {
            let _ = rx.await;
        }));
        Ok(App {
            handle,
            service,
            openflow,
            api,
            created_account,
            pool,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// Stop serving the API (calls in progress finish).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}
