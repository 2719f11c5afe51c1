//! `specs/openapi.json` against the code: every route of `node/src/api.rs` is documented
//! (read from the source, so a new route without documentation fails here), every error
//! code the handlers use is listed, the WebSocket topics are those of `events.rs`, and
//! the answers of a running dev node validate against the documented schemas.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use weft_node::{Node, NodeConfig};
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

const API_SOURCE: &str = concat!(
    include_str!("../src/api.rs"),
    include_str!("../src/api_ledger.rs")
);
const EVENTS_SOURCE: &str = include_str!("../src/events.rs");

fn doc() -> Value {
    serde_json::from_str(weft_node::api::OPENAPI).expect("specs/openapi.json is JSON")
}

/// The string literal starting at the first `"` at or after `from` (skipping whitespace).
fn literal_after(s: &str, from: usize) -> Option<&str> {
    let rest = s[from..].trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// `(path, method)` of every `.route("PATH", METHOD(handler))` in api.rs.
fn routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in API_SOURCE.match_indices(".route(") {
        let path = literal_after(API_SOURCE, at + ".route(".len()).expect("route path literal");
        let after = &API_SOURCE[at..];
        let comma = after.find(',').expect("route has a handler");
        let method: String = after[comma + 1..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        out.push((path.to_string(), method));
    }
    out
}

/// The text up to the parenthesis closing a call whose `(` was just consumed.
fn call_arguments(s: &str) -> &str {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..i];
                }
            }
            _ => {}
        }
    }
    panic!("unclosed call")
}

/// Error codes the handlers can produce, read from api.rs.
fn error_codes_in_source() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for (at, _) in API_SOURCE.match_indices("bad_request(") {
        if let Some(c) = literal_after(API_SOURCE, at + "bad_request(".len()) {
            codes.insert(c.to_string());
        }
    }
    for (at, _) in API_SOURCE.match_indices("ApiError::new(") {
        let after = &API_SOURCE[at..];
        let comma = after.find(',').expect("status argument");
        if let Some(c) = literal_after(API_SOURCE, at + comma + 1) {
            codes.insert(c.to_string());
        }
    }
    // Helpers that take the code as an argument: `query_number(value, name, code, ..)`.
    for (at, _) in API_SOURCE.match_indices("query_number(") {
        if API_SOURCE[..at].ends_with("fn ") {
            continue;
        }
        let args = call_arguments(&API_SOURCE[at + "query_number(".len()..]);
        let literals: Vec<&str> = args
            .split(',')
            .filter_map(|a| a.trim().strip_prefix('"')?.strip_suffix('"'))
            .collect();
        codes.insert(literals.get(1).expect("a code argument").to_string());
    }
    // The SubmitError → code table. (`not_found` and `internal` call `ApiError::new`
    // with their literal codes, found above.)
    let start = API_SOURCE
        .find("impl From<SubmitError> for ApiError")
        .expect("the SubmitError conversion");
    let end = start + API_SOURCE[start..].find("\n}\n").expect("end of impl");
    for (at, _) in API_SOURCE[start..end].match_indices("=> \"") {
        if let Some(c) = literal_after(&API_SOURCE[start..end], at + 3) {
            codes.insert(c.to_string());
        }
    }
    // The layer-error table of the `json_errors` middleware: `STATUS => ("code", ..)`,
    // passed to `ApiError::new` as a variable.
    let start = API_SOURCE
        .find("async fn json_errors")
        .expect("the json_errors middleware");
    let end = start + API_SOURCE[start..].find("\n}\n").expect("end of fn");
    let body = &API_SOURCE[start..end];
    let mut layer_codes = 0;
    for (at, _) in body.match_indices("=> (") {
        if let Some(c) = literal_after(body, at + "=> (".len()) {
            codes.insert(c.to_string());
            layer_codes += 1;
        }
    }
    assert!(layer_codes >= 4, "json_errors maps {layer_codes} statuses");
    codes
}

fn documented_error_codes(doc: &Value) -> BTreeSet<String> {
    doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .expect("error code enum")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn document_is_openapi_3_1() {
    let d = doc();
    assert_eq!(d["openapi"], "3.1.0");
    assert!(d["info"]["title"].is_string());
    assert!(d["paths"].is_object());
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let d = doc();
    let routes = routes();
    assert!(routes.len() >= 13, "found only {routes:?}");
    let mut documented: BTreeSet<String> =
        d["paths"].as_object().unwrap().keys().cloned().collect();
    for (path, method) in &routes {
        let item = &d["paths"][path.as_str()];
        assert!(
            item.is_object(),
            "route {path} is not in specs/openapi.json"
        );
        assert!(
            item[method.as_str()].is_object(),
            "route {path} has no `{method}` operation in specs/openapi.json"
        );
        documented.remove(path);
    }
    assert!(
        documented.is_empty(),
        "documented paths that are not routes: {documented:?}"
    );
}

#[test]
fn every_error_code_is_documented_and_used() {
    let d = doc();
    let in_source = error_codes_in_source();
    let documented = documented_error_codes(&d);
    assert!(in_source.contains("invalidSignature") && in_source.contains("notFound"));
    for layer in [
        "payloadTooLarge",
        "methodNotAllowed",
        "upgradeRequired",
        "badRequest",
    ] {
        assert!(
            in_source.contains(layer),
            "{layer} not found in json_errors"
        );
    }
    assert_eq!(
        in_source, documented,
        "error codes in node/src/api.rs and in specs/openapi.json differ"
    );
    // Every documented response status is one the API can produce.
    let allowed = [
        "101", "200", "201", "202", "400", "404", "405", "410", "413", "415", "426", "429", "500",
        "501", "503",
    ];
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                assert!(
                    allowed.contains(&status.as_str()),
                    "{method} {path}: status {status}"
                );
            }
        }
    }
}

#[test]
fn websocket_topics_match_the_events() {
    let d = doc();
    let documented: BTreeSet<String> = d["paths"]["/api/v1/events"]["get"]["x-websocket"]["topics"]
        .as_object()
        .expect("x-websocket topics")
        .keys()
        .cloned()
        .collect();
    let at = EVENTS_SOURCE.find("fn topic").expect("Event::topic");
    let body = &EVENTS_SOURCE[at..];
    let body = &body[..body.find("\n    }").unwrap()];
    let in_source: BTreeSet<String> = body
        .match_indices("=> \"")
        .map(|(i, _)| literal_after(body, i + 3).unwrap().to_string())
        .collect();
    assert_eq!(documented, in_source);
    let events = d["components"]["schemas"]["Event"]["oneOf"]
        .as_array()
        .unwrap();
    assert_eq!(events.len(), 4, "block, milestone, confirmations, lagged");
}

// ---------------------------------------------------------------------------------------
// A small JSON Schema checker for the subset the document uses.

struct Checker {
    doc: Value,
}

impl Checker {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                let target = &self.doc["components"]["schemas"][name];
                assert!(target.is_object(), "dangling $ref {r}");
                self.resolve(target)
            }
            None => schema,
        }
    }

    fn schema(&self, name: &str) -> &Value {
        let s = &self.doc["components"]["schemas"][name];
        assert!(s.is_object(), "no schema {name}");
        s
    }

    fn check(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let s = self.resolve(schema);
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, v, at)?;
            }
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            let ok = one
                .iter()
                .filter(|sub| self.check(sub, v, at).is_ok())
                .count();
            if ok != 1 {
                return Err(format!("{at}: {v} matches {ok} of the oneOf alternatives"));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                return Err(format!("{at}: {v} is not {c}"));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                return Err(format!("{at}: {v} not in {e:?}"));
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !types.contains(&actual) {
                return Err(format!("{at}: {v} is {actual}, expected {types:?}"));
            }
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_u64), v.as_u64()) {
            if n < min {
                return Err(format!("{at}: {n} < {min}"));
            }
        }
        if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_u64), v.as_u64()) {
            if n > max {
                return Err(format!("{at}: {n} > {max}"));
            }
        }
        if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
            if !matches_pattern(p, text) {
                return Err(format!("{at}: {text:?} does not match {p}"));
            }
        }
        if let Some(items) = v.as_array() {
            if let Some(n) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < n {
                    return Err(format!("{at}: fewer than {n} items"));
                }
            }
            if let Some(n) = s.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > n {
                    return Err(format!("{at}: more than {n} items"));
                }
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    self.check(item, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req {
                    let r = r.as_str().unwrap();
                    if !obj.contains_key(r) {
                        return Err(format!("{at}: missing required `{r}`"));
                    }
                }
            }
            for (k, x) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => self.check(sub, x, &format!("{at}.{k}"))?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{at}: undocumented property `{k}`"))
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    fn assert(&self, name: &str, v: &Value) {
        if let Err(e) = self.check(self.schema(name), v, name) {
            panic!("response does not match schema {name}: {e}\n{v:#}");
        }
    }
}

/// The patterns the document uses: `^[class]{n}$`, `^[class]{a,b}$`, `^[class]*$`.
fn matches_pattern(p: &str, text: &str) -> bool {
    let inner = p
        .strip_prefix("^[")
        .and_then(|r| r.strip_suffix('$'))
        .unwrap_or_else(|| panic!("unsupported pattern {p}"));
    let (class, quant) = inner.split_once(']').unwrap();
    let allowed = |c: char| match class {
        "0-9a-f" => c.is_ascii_digit() || ('a'..='f').contains(&c),
        "0-9" => c.is_ascii_digit(),
        other => panic!("unsupported class {other}"),
    };
    if !text.chars().all(allowed) {
        return false;
    }
    let n = text.len();
    match quant {
        "*" => true,
        q => {
            let q = q.trim_start_matches('{').trim_end_matches('}');
            match q.split_once(',') {
                Some((a, b)) => n >= a.parse().unwrap() && n <= b.parse().unwrap(),
                None => n == q.parse::<usize>().unwrap(),
            }
        }
    }
}

#[test]
fn the_checker_catches_mismatches() {
    let c = Checker { doc: doc() };
    let health = |v: Value| c.check(c.schema("Health"), &v, "Health");
    assert!(health(serde_json::json!({"healthy": true, "latestMilestone": 3})).is_ok());
    assert!(health(serde_json::json!({"healthy": true})).is_err());
    assert!(health(serde_json::json!({"healthy": 1, "latestMilestone": null})).is_err());
    assert!(health(serde_json::json!({"healthy": true, "latestMilestone": null, "x": 1})).is_err());
    let id = |s: &str| c.check(c.schema("BlockId"), &Value::String(s.into()), "BlockId");
    assert!(id(&"ab".repeat(32)).is_ok());
    assert!(id(&"AB".repeat(32)).is_err());
    assert!(id("ab").is_err());
}

#[test]
fn the_vector_block_matches_the_block_schema() {
    let c = Checker { doc: doc() };
    let example = c.schema("Block")["example"].clone();
    c.assert("Block", &example);
    let block: Block = serde_json::from_value(example).expect("the example is a block");
    assert_eq!(
        block.id().to_hex(),
        "e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7"
    );
}

struct Running {
    node: Node,
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start() -> Running {
        let dir = std::env::temp_dir();
        let mut config = NodeConfig::dev(dir, "127.0.0.1:0".parse().unwrap());
        config.milestone_interval_ms = 100;
        let store = Arc::new(weft_tangle::MemoryStore::default());
        let node = Node::start_with_store(config, store).expect("node starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(weft_node::serve(node.clone(), listener, async move {
            let _ = stopped.await;
        }));
        Running {
            node,
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/blocks", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn request(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.server.await;
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.shutdown())
            .await
            .unwrap();
    }
}

fn anchor(parents: Vec<BlockId>, data: &[u8]) -> Block {
    let key = weft_node::config::dev_key("organisation");
    key.sign_block(
        BlockBuilder::new(
            NetworkId::from_name(weft_node::config::DEV_NETWORK),
            parents,
            weft_node::core::now_ms(),
        )
        .payload(Payload::TaggedData(TaggedData {
            tag: b"openapi/test".to_vec(),
            data: data.to_vec(),
        }))
        .organisation(key.public_key()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_answers_as_documented() {
    let c = Checker { doc: doc() };
    let n = Running::start().await;

    // Subscribe first, so the stream sees the blocks submitted below.
    let client = weft_client::Client::new(n.base.clone());
    let mut events = Box::pin(
        client
            .events(&["blocks", "milestones", "confirmations"])
            .await
            .expect("WebSocket upgrade"),
    );

    let (s, health) = n.get("/api/v1/health").await;
    assert_eq!(s, 200);
    c.assert("Health", &health);

    let (s, tips) = n.get("/api/v1/tips?count=2").await;
    assert_eq!(s, 200);
    c.assert("Tips", &tips);
    let parents: Vec<BlockId> = serde_json::from_value(tips["tips"].clone()).unwrap();

    // Submissions: bytes, duplicate, JSON.
    let a = anchor(parents.clone(), b"first");
    let (s, v) = n.post("application/octet-stream", a.to_bytes()).await;
    assert_eq!(s, 201, "{v}");
    c.assert("SubmitSolid", &v);
    let (s, v) = n.post("application/octet-stream", a.to_bytes()).await;
    assert_eq!(s, 200, "{v}");
    c.assert("SubmitDuplicate", &v);
    let b = anchor(parents.clone(), b"second");
    let (s, v) = n
        .post("application/json", serde_json::to_vec(&b).unwrap())
        .await;
    assert_eq!(s, 201, "{v}");
    // A block whose parent is unknown waits.
    let orphan = anchor(vec![BlockId([0x5a; 32])], b"orphan");
    let (s, v) = n.post("application/octet-stream", orphan.to_bytes()).await;
    assert_eq!(s, 202, "{v}");
    c.assert("SubmitWaiting", &v);

    // Errors.
    let codes = documented_error_codes(&c.doc);
    for (status, v) in [
        n.post("application/octet-stream", vec![1, 2, 3]).await,
        n.post("application/json", b"{".to_vec()).await,
        n.post("text/plain", a.to_bytes()).await,
        n.get("/api/v1/blocks/zz").await,
        n.get(&format!("/api/v1/blocks/{}", "ab".repeat(32))).await,
        n.get("/api/v1/tips?count=9").await,
        n.get("/api/v1/milestones/0").await,
        n.get("/api/v1/milestones/1?blocks=yes").await,
        n.get("/api/v1/ledger/anchors/12").await,
        n.get("/api/v1/no/such/route").await,
        n.get("/api/v1/milestones/4000000000").await,
        n.get("/api/v1/tips?count=1&count=2").await,
        n.get("/api/v1/events").await,
        n.request(reqwest::Method::DELETE, "/api/v1/blocks").await,
        // An oversized body is announced, not sent (sending it races with the server
        // closing the connection: a broken pipe, not an answer).
        post_announcing_length(&n.base, 70 * 1024).await,
    ] {
        assert!((400..500).contains(&status), "{status} {v}");
        c.assert("Error", &v);
        assert!(codes.contains(v["error"]["code"].as_str().unwrap()));
    }
    let (s, v) = n.post("text/plain", a.to_bytes()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (415, Some("unsupportedMediaType"))
    );
    // Errors raised before a handler runs have the JSON shape too.
    let code = |v: &Value| v["error"]["code"].as_str().map(str::to_string);
    let (s, v) = post_announcing_length(&n.base, 70 * 1024).await;
    assert_eq!((s, code(&v)), (413, Some("payloadTooLarge".into())), "{v}");
    let (s, v) = n.request(reqwest::Method::PUT, "/api/v1/tips").await;
    assert_eq!((s, code(&v)), (405, Some("methodNotAllowed".into())), "{v}");
    let (s, v) = n.get("/api/v1/tips?count=1&count=2").await;
    assert_eq!((s, code(&v)), (400, Some("badRequest".into())), "{v}");
    let (s, v) = n.get("/api/v1/events").await;
    assert_eq!((s, code(&v)), (400, Some("badRequest".into())), "{v}");
    // A milestone not yet issued (or not yet flushed) is not served.
    let (s, v) = n.get("/api/v1/milestones/4000000000").await;
    assert_eq!((s, code(&v)), (404, Some("notFound".into())), "{v}");

    // Wait for the confirmation of `a`.
    let meta = loop {
        let (s, m) = n.get(&format!("/api/v1/blocks/{}/metadata", a.id())).await;
        assert_eq!(s, 200);
        c.assert("BlockMetadata", &m);
        if m["referencedByMilestone"].is_u64() {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(meta["ledgerOutcome"], "applied");
    let index = meta["referencedByMilestone"].as_u64().unwrap();

    let (s, v) = n.get(&format!("/api/v1/blocks/{}", a.id())).await;
    assert_eq!(s, 200);
    c.assert("Block", &v);
    let (s, v) = n
        .get(&format!("/api/v1/blocks/{}/children?limit=5", parents[0]))
        .await;
    assert_eq!(s, 200);
    c.assert("Children", &v);
    let (s, v) = n
        .get(&format!("/api/v1/milestones/{index}?blocks=true"))
        .await;
    assert_eq!(s, 200);
    c.assert("Milestone", &v);
    assert!(v["blocks"]
        .as_array()
        .unwrap()
        .contains(&Value::String(a.id().to_hex())));
    let (s, v) = n.get("/api/v1/milestones/latest").await;
    assert_eq!(s, 200);
    c.assert("Milestone", &v);
    let (s, v) = n.get("/api/v1/info").await;
    assert_eq!(s, 200);
    c.assert("Info", &v);
    // The orphan's parent is missing; `a` was applied and anchored.
    assert!(v["missingParents"]
        .as_array()
        .unwrap()
        .contains(&Value::String("5a".repeat(32))));
    assert!(v["ledger"]["appliedBlocks"].as_u64().unwrap() >= 1);
    assert!(v["ledger"]["anchors"].as_u64().unwrap() >= 1);
    // Served milestones never run ahead of the latest one.
    let latest = v["latestMilestone"]["index"].as_u64().unwrap();
    let (s, _) = n
        .get(&format!("/api/v1/milestones/{}", latest + 1000))
        .await;
    assert_eq!(s, 404);
    let digest = weft_ledger::anchor_digest(b"openapi/test", b"first");
    let (s, v) = n
        .get(&format!("/api/v1/ledger/anchors/{}", hex::encode(digest)))
        .await;
    assert_eq!(s, 200);
    c.assert("Anchor", &v);
    assert_eq!(v["blockId"], a.id().to_hex());

    // Every event type arrives and matches the `Event` schema.
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ["block", "milestone", "confirmations"]
        .iter()
        .any(|t| !seen.contains(*t))
    {
        let next = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events within 20 s")
            .expect("stream open")
            .expect("an event");
        c.assert("Event", &next);
        seen.insert(next["type"].as_str().unwrap().to_string());
    }
    drop(events);

    let (s, v) = n.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(v, c.doc);
    let metrics = n
        .http
        .get(format!("{}/metrics", n.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let described = c.doc["paths"]["/metrics"]["get"]["description"]
        .as_str()
        .unwrap();
    for name in [
        "weft_blocks_received_total",
        "weft_blocks_confirmed_total",
        "weft_milestone_confirmation_seconds",
        "weft_tips",
        "weft_solidifier_queue",
        "weft_database_bytes",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
        assert!(described.contains(name), "{name} not documented");
    }
    n.stop().await;
}

/// Announces an oversized body without sending it (the server answers 413 before reading
/// it; sending it anyway races with the server closing the connection).
async fn post_announcing_length(base: &str, length: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/blocks HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
