//! API routes that hand out the snapshots this node wrote (`[snapshots]`): a new node or
//! a field office downloads one from any peer it can reach and checks it itself against
//! the committee keys, so the node serving it need not be trusted.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::{ApiError, ApiResult};
use crate::core::Node;
use crate::snapshots::{list, SnapshotFile};

/// `GET /api/v1/snapshots`: the snapshot files this node holds, oldest first.
pub(crate) async fn list_snapshots(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let dir = node.config.snapshots.dir_in(&node.config.data_dir);
    let files: Vec<Value> = list(&dir)
        .into_iter()
        .map(|(f, bytes)| match f {
            SnapshotFile::Full { index } => json!({
                "kind": "full", "name": f.name(), "index": index, "bytes": bytes,
            }),
            SnapshotFile::Delta { base, to } => json!({
                "kind": "delta", "name": f.name(), "base": base, "to": to, "bytes": bytes,
            }),
        })
        .collect();
    Ok(Json(json!({ "snapshots": files })))
}

/// `GET /api/v1/snapshots/{name}`: one file, streamed. Only names the node writes are
/// served (no paths).
pub(crate) async fn get_snapshot(
    State(node): State<Node>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let file = SnapshotFile::parse(&name).ok_or_else(|| {
        ApiError::bad_request(
            "invalidSnapshotName",
            format!("{name:?} is not a snapshot name (full-<index>.weftsnap or delta-<base>-<to>.weftsnap)"),
        )
    })?;
    let path = node
        .config
        .snapshots
        .dir_in(&node.config.data_dir)
        .join(file.name());
    let f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "no snapshot {name} on this node"
            )))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = f.metadata().await.map_err(ApiError::internal)?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}
