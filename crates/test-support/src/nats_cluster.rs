//! A JetStream cluster of real nats-server nodes on loopback, for failover tests.
//!
//! Nodes are named `n1`, `n2`, ... and indexed from 0 (`node(0)` is `n1`). Every node routes to
//! every other, has its own store directory, and can be killed and restarted independently.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::free_ports;
use crate::nats::{NatsServer, READY_TIMEOUT, RouteConfig};

/// Name of the cluster the nodes form.
pub const CLUSTER_NAME: &str = "orderflow-test";

/// A running JetStream cluster. Dropping it kills every node.
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` nodes (3 for a quorum that survives one failure) and waits until every
    /// node is healthy and all agree on a JetStream meta leader. Panics if that fails.
    pub async fn start(size: usize) -> NatsCluster {
        assert!(size >= 1, "a cluster needs at least one node");
        let mut last_error = None;
        // As with a single server, a port stolen between picking and binding means retry.
        for _ in 0..3 {
            match Self::try_start(size).await {
                Ok(cluster) => return cluster,
                Err(e) => last_error = Some(e),
            }
        }
        panic!(
            "could not start a {size}-node nats cluster: {}",
            last_error.unwrap()
        );
    }

    async fn try_start(size: usize) -> Result<NatsCluster> {
        let ports: Vec<[u16; 3]> = (0..size).map(|_| free_ports::<3>()).collect();
        let mut nodes = Vec::with_capacity(size);
        for (i, [client, http, route]) in ports.iter().copied().enumerate() {
            let routes = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| p[2])
                .collect();
            let routing = RouteConfig {
                cluster_name: CLUSTER_NAME.into(),
                port: route,
                routes,
            };
            nodes.push(NatsServer::prepare(
                format!("n{}", i + 1),
                client,
                http,
                Some(routing),
            )?);
        }
        // All nodes must run before any can be healthy: health needs a meta leader, which
        // needs a quorum.
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_healthy(READY_TIMEOUT).await?;
        }
        let cluster = NatsCluster { nodes };
        cluster.try_wait_for_meta_leader(READY_TIMEOUT).await?;
        Ok(cluster)
    }

    /// Number of nodes, running or not.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Client URLs of all nodes, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// All client URLs joined with commas, the usual form of a `NATS_URL`-style setting
    /// (`async_nats::connect` itself takes [`Self::urls`]).
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// Node `i` (0-based; node 0 is named `n1`).
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// Mutable access to node `i`, e.g. to stop it gracefully.
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Restarts node `i` with its old store and waits until it has rejoined.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].restart().await;
        self.wait_for_meta_leader().await;
    }

    /// Waits until every running node reports the same meta leader, and that leader is a
    /// running node; returns its name (`n1`..). Panics after 30 s.
    pub async fn wait_for_meta_leader(&self) -> String {
        match self.try_wait_for_meta_leader(READY_TIMEOUT).await {
            Ok(leader) => leader,
            Err(e) => panic!("{e}"),
        }
    }

    async fn try_wait_for_meta_leader(&self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.agreed_leader().await {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                let node = &self.nodes[0];
                return Err(Error::NotReady {
                    what: "JetStream meta leader election".into(),
                    secs: timeout.as_secs(),
                    log: node.log_path(),
                    tail: crate::process::log_tail(&node.log_path(), 20),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn agreed_leader(&self) -> Option<String> {
        let mut agreed: Option<String> = None;
        let mut live_names = Vec::new();
        for node in &self.nodes {
            // A killed node has no monitoring port; skip it rather than wait for it.
            if !node.is_healthy().await {
                continue;
            }
            live_names.push(node.name().to_string());
            let leader = node.meta_leader().await?;
            match &agreed {
                Some(a) if *a != leader => return None,
                _ => agreed = Some(leader),
            }
        }
        agreed.filter(|leader| live_names.contains(leader))
    }
}
