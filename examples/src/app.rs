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
    /// The XML-RPC account is not an account.
    #[error("xmlrpc account: no account has the access key {0:?}")]
    XmlRpcAccount(String),
}

/// A running controller.
#[derive(Debug)]
pub struct App {
    /// The controller core's handle.
    pub handle: Handle,
    /// The EC2 service.
    pub service: Ec2Service,
    /// The OpenFlow TCP listeners' addresses (the unix ones: [`Handle::unix_paths`]).
    pub openflow: Vec<SocketAddr>,
    /// The EC2 API's address.
    pub api: SocketAddr,
    /// The account this start created (no account was configured or stored): print it.
    pub created_account: Option<Account>,
    /// The public address pool in use.
    pub pool: BTreeSet<Ipv4Addr>,
    /// The XML-RPC drop-in's address (its path is [`Resolved::xmlrpc_path`]).
    pub xmlrpc: SocketAddr,
    /// The XML-RPC methods (acting as their account).
    pub xmlrpc_rpc: crate::xmlrpc::XmlRpc,
    /// The JSON admin API's address.
    pub admin: SocketAddr,
    /// The admin API's bearer token.
    pub admin_token: String,
    /// The admin token this start created (none was configured or stored): print it.
    pub created_admin_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
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
        let (admin_token, token_write, token_created) =
            crate::admin::token(&stored, resolved.admin_token.as_deref());
        writes.extend(token_write);
        store.commit(&writes)?;
        let mut controller = Controller::new(resolved.model.clone(), resolved.config.clone());
        for id in crate::xmlrpc::pinned(&stored) {
            controller.pin(id, true);
        }
        let handle = shell::spawn_on(controller, Some(Box::new(store)), &resolved.listen)
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
        // Front ends beside the EC2 API stop with it.
        let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
            let mut rx = tx.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let mut servers = Vec::new();
        // The XML-RPC drop-in, acting as the configured account or the first by access key.
        let all = service.accounts().all();
        let xmlrpc_owner = match &resolved.xmlrpc_account {
            Some(key) => all
                .iter()
                .find(|a| &a.access_key == key)
                .map(|a| a.owner.clone())
                .ok_or_else(|| AppError::XmlRpcAccount(key.clone()))?,
            None => all
                .first()
                .map(|a| a.owner.clone())
                .ok_or_else(|| AppError::Account("no account".to_owned()))?,
        };
        let xmlrpc_rpc = crate::xmlrpc::XmlRpc::new(
            service.clone(),
            xmlrpc_owner,
            resolved.api.max_rules_per_group,
        );
        let (listener, xmlrpc) = bind_or_free(
            resolved.xmlrpc_listen,
            crate::shell::cli::DEFAULT_XMLRPC_LISTEN,
        )
        .await?;
        info!(xmlrpc = %xmlrpc, path = %resolved.xmlrpc_path, account = %xmlrpc_rpc.owner(), "serving the XML-RPC drop-in");
        servers.push(tokio::spawn(crate::xmlrpc::serve(
            listener,
            xmlrpc_rpc.clone(),
            &resolved.xmlrpc_path,
            resolved.api.http_limits(),
            stopped(&stop_tx),
        )));
        // The JSON admin API.
        let (listener, admin) = bind_or_free(
            resolved.admin_listen,
            crate::shell::cli::DEFAULT_ADMIN_LISTEN,
        )
        .await?;
        info!(%admin, "serving the admin API");
        servers.push(tokio::spawn(crate::admin::serve(
            listener,
            handle.clone(),
            &admin_token,
            resolved.api.http_limits(),
            stopped(&stop_tx),
        )));
        let server = tokio::spawn(async move {
            let r = server.await.unwrap_or(Ok(()));
            let _ = stop_tx.send(());
            r
        });
        Ok(App {
            handle,
            service,
            openflow,
            api,
            created_account,
            pool,
            xmlrpc,
            xmlrpc_rpc,
            admin,
            created_admin_token: token_created.then(|| admin_token.clone()),
            admin_token,
            shutdown: Some(tx),
            server: Some(server),
            servers,
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
        for s in std::mem::take(&mut self.servers) {
            let _ = s.await;
        }
    }
}

/// Bind `configured`; with none, `default`, or a free port of its address if another process
/// has it (logged), so that several controllers (tests) can run side by side.
async fn bind_or_free(
    configured: Option<SocketAddr>,
    default: SocketAddr,
) -> Result<(TcpListener, SocketAddr), AppError> {
    if let Some(addr) = configured {
        return bind(addr).await;
    }
    match bind(default).await {
        Err(AppError::Listen { source, .. }) if source.kind() == std::io::ErrorKind::AddrInUse => {
            let mut free = default;
            free.set_port(0);
            let bound = bind(free).await?;
            warn!(wanted = %default, using = %bound.1, "the default address is taken: using a free port");
            Ok(bound)
        }
        other => other,
    }
}

/// Bind a listener; returns it and its address (with the real port when port 0 was asked).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), AppError> {
    let err = |source| AppError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.abort();
        }
        for s in &self.servers {
            s.abort();
        }
    }
}
