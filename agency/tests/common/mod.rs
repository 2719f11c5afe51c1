//! A dev node on a free port for the agency's integration tests, stopped on drop.

use weft_node::NodeConfig;

/// A running dev node with its API.
pub struct Running {
    /// The node.
    pub node: weft_node::Node,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Its API base URL.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.node.shutdown();
    }
}

/// Starts a dev node (200 ms milestones) on 127.0.0.1.
pub async fn start() -> Running {
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut cfg = NodeConfig::dev(dir.path().join("data"), addr);
    cfg.milestone_interval_ms = 200;
    let node = weft_node::Node::start(cfg).expect("node");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(weft_node::serve(node.clone(), listener, async {
        let _ = rx.await;
    }));
    Running {
        node,
        stop: Some(tx),
        url: format!("http://{addr}"),
        _dir: dir,
    }
}
