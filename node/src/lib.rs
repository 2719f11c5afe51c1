//! The Weft node as a library: the binary, the demo, the bench and the integration tests
//! all start nodes through [`core::Node`] and serve them with [`api::router`].

pub mod api;
mod api_ledger;
pub mod api_notes;
mod api_snapshots;
pub mod committee_change;
pub mod config;
pub mod core;
pub mod demo;
pub mod demo_round;
pub mod events;
pub mod metrics;
pub mod milestone;
pub mod p2p;
pub mod scenario;
pub mod snapshots;

pub use crate::config::NodeConfig;
pub use crate::core::{Node, NodeError, SubmitError};

/// Serves the API of `node` on `listener` until `shutdown` resolves.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, api::router(node))
        .with_graceful_shutdown(shutdown)
        .await
}
