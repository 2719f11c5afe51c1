//! The bytes on the wire: gossip topics and message ids, the heartbeat message, and the
//! `/weft/sync/1` request/response protocol with its bounded codec.
//!
//! This module exists so that every format another implementation would need is in one
//! place, pure (no I/O but the codec's reads and writes), tested on its own and
//! described byte by byte in `specs/network.md`. Every decoder is strict: lengths are
//! bounded before anything is allocated, tags are known, nothing may trail a value, and
//! a violation is an `InvalidData` error that the service treats as misbehaviour.

use std::io;

use async_trait::async_trait;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::gossipsub::{IdentTopic, Message, MessageId, TopicHash};
use libp2p::{PeerId, StreamProtocol};
use weft_types::codec::{check_range, Reader, Writer};
use weft_types::hash::blake2b256;
use weft_types::{BlockId, DecodeError, NetworkId, MAX_BLOCK_BYTES};

/// The sync protocol's name, negotiated per stream.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/sync/1");
/// Largest sync request frame body, in bytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest sync response frame body, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most block ids one `Blocks` request may name.
pub const MAX_BLOCKS_PER_REQUEST: usize = 128;
/// Most confirmed block ids in one milestone page (2 MiB of ids).
pub const MAX_MILESTONE_IDS_PER_PAGE: usize = 65_536;
/// Largest gossipsub frame accepted or sent: one block plus gossipsub's own envelope
/// (the topic and the protobuf framing; messages are unsigned, §3 of the spec).
pub const MAX_GOSSIP_BYTES: usize = MAX_BLOCK_BYTES + 1024;
/// Longest heartbeat message body: the range, the sending time and a peer id of at
/// most [`MAX_PEER_ID_BYTES`].
pub const MAX_HEARTBEAT_BYTES: usize = 1 + 8 + 8 + 1 + MAX_PEER_ID_BYTES;
/// Longest peer id (multihash bytes) a heartbeat may name; an Ed25519 peer id is 38.
pub const MAX_PEER_ID_BYTES: usize = 64;
/// Version byte of the heartbeat message.
pub const HEARTBEAT_VERSION: u8 = 2;

const REQ_STATUS: u8 = 0;
const REQ_BLOCKS: u8 = 1;
const REQ_MILESTONE: u8 = 2;
const RES_STATUS: u8 = 0;
const RES_BLOCKS: u8 = 1;
const RES_MILESTONE: u8 = 2;
const RES_BUSY: u8 = 3;

/// The gossip topic blocks of `network` travel on: `/weft/<network id>/blocks/2`
/// (version 2: unsigned gossip messages; version 1 carried libp2p-signed ones).
pub fn blocks_topic(network: NetworkId) -> IdentTopic {
    IdentTopic::new(format!("/weft/{}/blocks/2", network.0))
}

/// The gossip topic of milestone heartbeats: `/weft/<network id>/heartbeat/2`.
pub fn heartbeat_topic(network: NetworkId) -> IdentTopic {
    IdentTopic::new(format!("/weft/{}/heartbeat/2", network.0))
}

/// The gossipsub message id: on the blocks topic the block id (BLAKE2b-256 of the
/// data), so the same block published by several nodes is one message; on any other
/// topic BLAKE2b-256 of `weft/gossip-id/v1`, topic, author, sequence number and data.
pub fn message_id(blocks: &TopicHash, message: &Message) -> MessageId {
    if &message.topic == blocks {
        return MessageId(BlockId::of_bytes(&message.data).0.to_vec());
    }
    let author = message.source.map(|p| p.to_bytes()).unwrap_or_default();
    let seq = message.sequence_number.unwrap_or(0).to_le_bytes();
    MessageId(
        blake2b256(&[
            b"weft/gossip-id/v1",
            message.topic.as_str().as_bytes(),
            &author,
            &seq,
            &message.data,
        ])
        .to_vec(),
    )
}

/// The milestones a node holds: every index from `oldest` to `latest` inclusive.
/// `(0, 0)` means only the genesis (milestone 0), that is nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MilestoneRange {
    /// Lowest milestone index still kept (older ones are pruned).
    pub oldest: u32,
    /// Latest milestone index.
    pub latest: u32,
}

impl MilestoneRange {
    /// Whether the range includes `index`.
    pub fn contains(&self, index: u32) -> bool {
        self.oldest <= index && index <= self.latest
    }

    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.oldest);
        w.u32(self.latest);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<MilestoneRange, DecodeError> {
        let oldest = r.u32("oldest milestone")?;
        let latest = r.u32("latest milestone")?;
        check_range("oldest milestone", oldest as u64, 0, latest as u64)?;
        Ok(MilestoneRange { oldest, latest })
    }
}

/// A heartbeat: the milestones its author holds, when it was sent and who sent it.
///
/// Gossip messages are unsigned (`specs/network.md` §3), so the author is named in the
/// body and a receiver believes it only when it is the peer the message came from over
/// its noise-authenticated connection: heartbeats are never forwarded. The author and
/// the sending time also make every heartbeat a distinct gossip message (the message
/// id hashes the body), so two peers at the same range, or one peer at an unchanged
/// range, are not taken for duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The milestones the author holds.
    pub range: MilestoneRange,
    /// The author's clock when it sent this heartbeat, in milliseconds since the Unix
    /// epoch (only to tell heartbeats apart; nothing is decided by it).
    pub sent_at_ms: u64,
    /// The author's peer id.
    pub author: PeerId,
}

/// Encodes a heartbeat: `u8 version (2) || u32 oldest || u32 latest || u64 sent_at_ms
/// || u8 n || [n] author peer id bytes`.
pub fn encode_heartbeat(heartbeat: &Heartbeat) -> Vec<u8> {
    let author = heartbeat.author.to_bytes();
    let mut w = Writer::with_capacity(1 + 8 + 8 + 1 + author.len());
    w.u8(HEARTBEAT_VERSION);
    heartbeat.range.encode_into(&mut w);
    w.u64(heartbeat.sent_at_ms);
    w.u8(author.len() as u8);
    w.bytes(&author);
    w.into_bytes()
}

/// Decodes a heartbeat, rejecting anything but exactly one canonical encoding (the
/// peer id must be a valid multihash whose bytes are exactly the ones sent).
pub fn decode_heartbeat(bytes: &[u8]) -> Result<Heartbeat, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u8("heartbeat version")?;
    if version != HEARTBEAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let range = MilestoneRange::decode_from(&mut r)?;
    let sent_at_ms = r.u64("heartbeat time")?;
    let n = r.u8("heartbeat author length")? as usize;
    check_range(
        "heartbeat author length",
        n as u64,
        1,
        MAX_PEER_ID_BYTES as u64,
    )?;
    let raw = r.take(n, "heartbeat author")?;
    let author = PeerId::from_bytes(raw)
        .ok()
        .filter(|p| p.to_bytes() == raw)
        .ok_or(DecodeError::UnknownTag {
            field: "heartbeat author multihash",
            tag: raw[0] as u64,
        })?;
    r.finish("heartbeat")?;
    Ok(Heartbeat {
        range,
        sent_at_ms,
        author,
    })
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// "Which milestones do you hold?" (sent on every new connection).
    Status,
    /// The canonical bytes of these blocks (1..=[`MAX_BLOCKS_PER_REQUEST`] ids).
    Blocks(Vec<BlockId>),
    /// A page of milestone `index`: its block and the ids it confirmed in white-flag
    /// order, starting at position `from`.
    Milestone {
        /// Milestone index.
        index: u32,
        /// First position of the confirmed ids wanted.
        from: u32,
    },
}

/// A page of a milestone: its block, and a slice of the blocks it confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestonePage {
    /// The milestone block's canonical bytes.
    pub block: Vec<u8>,
    /// How many blocks the milestone confirmed in all.
    pub total: u32,
    /// Position of the first id in `ids`.
    pub from: u32,
    /// Confirmed block ids at positions `from..from + ids.len()`, white-flag order.
    pub ids: Vec<BlockId>,
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    /// The responder's milestone range.
    Status(MilestoneRange),
    /// The requested blocks the responder has, in request order (missing ones are
    /// left out; the list may also stop early to keep the frame under
    /// [`MAX_RESPONSE_BYTES`]).
    Blocks(Vec<Vec<u8>>),
    /// The requested milestone page, or `None` when the responder does not hold it.
    Milestone(Option<MilestonePage>),
    /// The responder is answering too many requests; ask again later or elsewhere.
    Busy,
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Encodes a request body (without the length prefix).
pub fn encode_request(request: &SyncRequest) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    match request {
        SyncRequest::Status => w.u8(REQ_STATUS),
        SyncRequest::Blocks(ids) => {
            w.u8(REQ_BLOCKS);
            w.u16(ids.len() as u16);
            for id in ids {
                w.bytes(&id.0);
            }
        }
        SyncRequest::Milestone { index, from } => {
            w.u8(REQ_MILESTONE);
            w.u32(*index);
            w.u32(*from);
        }
    }
    w.into_bytes()
}

/// Decodes a request body.
pub fn decode_request(bytes: &[u8]) -> Result<SyncRequest, DecodeError> {
    let mut r = Reader::new(bytes);
    let request = match r.u8("request kind")? {
        REQ_STATUS => SyncRequest::Status,
        REQ_BLOCKS => {
            let count = r.u16("block count")?;
            check_range(
                "block count",
                count as u64,
                1,
                MAX_BLOCKS_PER_REQUEST as u64,
            )?;
            let mut ids = Vec::with_capacity(count as usize);
            for _ in 0..count {
                ids.push(BlockId(r.array("block id")?));
            }
            SyncRequest::Blocks(ids)
        }
        REQ_MILESTONE => SyncRequest::Milestone {
            index: r.u32("milestone index")?,
            from: r.u32("from")?,
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "request kind",
                tag: tag as u64,
            })
        }
    };
    r.finish("request")?;
    Ok(request)
}

/// Encodes a response body (without the length prefix).
///
/// The caller keeps it under [`MAX_RESPONSE_BYTES`] (see
/// [`fit_blocks`] and [`MAX_MILESTONE_IDS_PER_PAGE`]).
pub fn encode_response(response: &SyncResponse) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    match response {
        SyncResponse::Status(range) => {
            w.u8(RES_STATUS);
            range.encode_into(&mut w);
        }
        SyncResponse::Blocks(blocks) => {
            w.u8(RES_BLOCKS);
            w.u16(blocks.len() as u16);
            for block in blocks {
                w.u32(block.len() as u32);
                w.bytes(block);
            }
        }
        SyncResponse::Milestone(None) => {
            w.u8(RES_MILESTONE);
            w.u8(0);
        }
        SyncResponse::Milestone(Some(page)) => {
            w.u8(RES_MILESTONE);
            w.u8(1);
            w.u32(page.block.len() as u32);
            w.bytes(&page.block);
            w.u32(page.total);
            w.u32(page.from);
            w.u32(page.ids.len() as u32);
            for id in &page.ids {
                w.bytes(&id.0);
            }
        }
        SyncResponse::Busy => w.u8(RES_BUSY),
    }
    w.into_bytes()
}

/// Decodes a response body.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse, DecodeError> {
    let mut r = Reader::new(bytes);
    let response = match r.u8("response kind")? {
        RES_STATUS => SyncResponse::Status(MilestoneRange::decode_from(&mut r)?),
        RES_BLOCKS => {
            let count = r.u16("block count")?;
            check_range(
                "block count",
                count as u64,
                0,
                MAX_BLOCKS_PER_REQUEST as u64,
            )?;
            let mut blocks = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let len = r.u32("block length")?;
                check_range("block length", len as u64, 1, MAX_BLOCK_BYTES as u64)?;
                blocks.push(r.take(len as usize, "block")?.to_vec());
            }
            SyncResponse::Blocks(blocks)
        }
        RES_MILESTONE => match r.u8("milestone found")? {
            0 => SyncResponse::Milestone(None),
            1 => {
                let len = r.u32("milestone block length")?;
                check_range(
                    "milestone block length",
                    len as u64,
                    1,
                    MAX_BLOCK_BYTES as u64,
                )?;
                let block = r.take(len as usize, "milestone block")?.to_vec();
                let total = r.u32("confirmed total")?;
                let from = r.u32("from")?;
                let count = r.u32("id count")?;
                check_range(
                    "id count",
                    count as u64,
                    0,
                    MAX_MILESTONE_IDS_PER_PAGE as u64,
                )?;
                check_range(
                    "from + id count",
                    from as u64 + count as u64,
                    0,
                    total as u64,
                )?;
                let mut ids = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    ids.push(BlockId(r.array("confirmed id")?));
                }
                SyncResponse::Milestone(Some(MilestonePage {
                    block,
                    total,
                    from,
                    ids,
                }))
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "milestone found",
                    tag: tag as u64,
                })
            }
        },
        RES_BUSY => SyncResponse::Busy,
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "response kind",
                tag: tag as u64,
            })
        }
    };
    r.finish("response")?;
    Ok(response)
}

/// Keeps the longest prefix of `blocks` whose `Blocks` response fits in
/// [`MAX_RESPONSE_BYTES`], dropping any entry that is empty or over
/// [`weft_types::MAX_BLOCK_BYTES`] (a storage fault on the responder's side must not
/// make the whole answer undecodable).
pub fn fit_blocks(blocks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut size = 1 + 2;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        if block.is_empty() || block.len() > MAX_BLOCK_BYTES {
            continue;
        }
        if size + 4 + block.len() > MAX_RESPONSE_BYTES || out.len() == MAX_BLOCKS_PER_REQUEST {
            break;
        }
        size += 4 + block.len();
        out.push(block);
    }
    out
}

async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(invalid(format!(
            "frame of {len} bytes over the {max}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame<T>(io: &mut T, body: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if body.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes over the {max}-byte limit", body.len()),
        ));
    }
    io.write_all(&(body.len() as u32).to_le_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// A request frame that could not be read as a [`SyncRequest`] (oversize length
/// prefix, or a body that does not decode); the reason names the field.
///
/// The codec hands it to the service as a value rather than as an I/O error, because
/// libp2p's request/response behaviour does not report read errors of inbound requests
/// to its user, and the service must see them to ban the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// The `/weft/sync/1` codec: one length-prefixed frame (`u32` little-endian length,
/// then the body) each way per stream, bounded by [`MAX_REQUEST_BYTES`] and
/// [`MAX_RESPONSE_BYTES`]. An oversize or undecodable request is read as
/// `Err(`[`Malformed`]`)` (nothing past an oversize prefix is read); an oversize or
/// undecodable response is an `InvalidData` error. Sending `Err` is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

#[async_trait]
impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Result<SyncRequest, Malformed>;
    type Response = SyncResponse;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Result<SyncRequest, Malformed>>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, MAX_REQUEST_BYTES).await {
            Ok(body) => Ok(decode_request(&body).map_err(|e| Malformed(e.to_string()))),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Err(Malformed(e.to_string()))),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_RESPONSE_BYTES).await?;
        decode_response(&body).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Result<SyncRequest, Malformed>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let request = request.map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m.0))?;
        write_frame(io, &encode_request(&request), MAX_REQUEST_BYTES).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &encode_response(&response), MAX_RESPONSE_BYTES).await
    }
}

/// The committee protocol's name: validators' consensus messages, one per stream.
pub const COMMITTEE_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/committee/1");
/// Largest committee message body, in bytes: a consensus engine message (at most
/// 1 MiB) and the node's one-byte channel tag, with room to spare.
pub const MAX_COMMITTEE_BYTES: usize = (1 << 20) + 1024;

/// The `/weft/committee/1` codec: the requester writes one frame (`u32` little-endian
/// length, then at most [`MAX_COMMITTEE_BYTES`] of opaque body) and the responder
/// acknowledges with an empty frame (length 0). The body is the node's business (this
/// crate neither reads nor checks it). An oversize request is read as
/// `Err(`[`Malformed`]`)` (nothing past the length prefix is read); an acknowledgement
/// that is not an empty frame is an `InvalidData` error.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitteeCodec;

#[async_trait]
impl libp2p::request_response::Codec for CommitteeCodec {
    type Protocol = StreamProtocol;
    type Request = Result<Vec<u8>, Malformed>;
    type Response = ();

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Result<Vec<u8>, Malformed>>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, MAX_COMMITTEE_BYTES).await {
            Ok(body) => Ok(Ok(body)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Err(Malformed(e.to_string()))),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, 0).await.map(|_| ())
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Result<Vec<u8>, Malformed>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let body = request.map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m.0))?;
        write_frame(io, &body, MAX_COMMITTEE_BYTES).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &[], 0).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_request(req: SyncRequest) {
        let bytes = encode_request(&req);
        assert!(bytes.len() <= MAX_REQUEST_BYTES);
        assert_eq!(decode_request(&bytes), Ok(req));
    }

    fn round_trip_response(res: SyncResponse) {
        let bytes = encode_response(&res);
        assert!(bytes.len() <= MAX_RESPONSE_BYTES);
        assert_eq!(decode_response(&bytes), Ok(res));
    }

    #[test]
    fn requests_round_trip_and_are_strict() {
        round_trip_request(SyncRequest::Status);
        round_trip_request(SyncRequest::Blocks(vec![
            BlockId([3; 32]);
            MAX_BLOCKS_PER_REQUEST
        ]));
        round_trip_request(SyncRequest::Milestone { index: 7, from: 0 });
        assert_eq!(
            encode_request(&SyncRequest::Milestone { index: 1, from: 2 }),
            vec![2, 1, 0, 0, 0, 2, 0, 0, 0]
        );
        // empty list, too many ids, unknown kind, trailing byte, truncation
        assert!(decode_request(&[1, 0, 0]).is_err());
        let mut many = vec![1];
        many.extend_from_slice(&((MAX_BLOCKS_PER_REQUEST as u16) + 1).to_le_bytes());
        many.extend(std::iter::repeat_n(0, 32 * (MAX_BLOCKS_PER_REQUEST + 1)));
        assert!(decode_request(&many).is_err());
        assert!(decode_request(&[9]).is_err());
        assert!(decode_request(&[0, 0]).is_err());
        assert!(decode_request(&[2, 1, 0]).is_err());
        assert!(decode_request(&[]).is_err());
    }

    #[test]
    fn responses_round_trip_and_are_strict() {
        round_trip_response(SyncResponse::Status(MilestoneRange {
            oldest: 3,
            latest: 9,
        }));
        round_trip_response(SyncResponse::Blocks(vec![vec![1, 2, 3], vec![4; 100]]));
        round_trip_response(SyncResponse::Blocks(vec![]));
        round_trip_response(SyncResponse::Milestone(None));
        round_trip_response(SyncResponse::Milestone(Some(MilestonePage {
            block: vec![9; 40],
            total: 5,
            from: 2,
            ids: vec![BlockId([1; 32]), BlockId([2; 32]), BlockId([3; 32])],
        })));
        round_trip_response(SyncResponse::Busy);
        // oldest above latest, empty block, ids past the total, unknown tags
        assert!(decode_response(&[0, 5, 0, 0, 0, 4, 0, 0, 0]).is_err());
        assert!(decode_response(&[1, 1, 0, 0, 0, 0, 0]).is_err());
        let mut past_total = vec![2, 1, 1, 0, 0, 0, 7];
        past_total.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        past_total.extend_from_slice(&[0; 32]);
        assert!(decode_response(&past_total).is_err());
        assert!(decode_response(&[2, 2]).is_err());
        assert!(decode_response(&[4]).is_err());
        assert!(decode_response(&[3, 0]).is_err());
    }

    #[test]
    fn heartbeats_name_their_author_and_decode_only_canonically() {
        let author = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32])
            .expect("key")
            .public()
            .to_peer_id();
        let heartbeat = Heartbeat {
            range: MilestoneRange {
                oldest: 1,
                latest: 258,
            },
            sent_at_ms: 0x0102,
            author,
        };
        let bytes = encode_heartbeat(&heartbeat);
        let id = author.to_bytes();
        assert_eq!(id.len(), 38, "an Ed25519 peer id");
        assert_eq!(bytes.len(), 1 + 8 + 8 + 1 + 38);
        assert!(bytes.len() <= MAX_HEARTBEAT_BYTES);
        assert_eq!(
            bytes[..18],
            [2, 1, 0, 0, 0, 2, 1, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 38]
        );
        assert_eq!(bytes[18..], id[..]);
        assert_eq!(decode_heartbeat(&bytes), Ok(heartbeat));

        // Truncated, trailing, old version, oldest above latest, bad author length,
        // an author that is not a peer id.
        assert!(decode_heartbeat(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_heartbeat(&long).is_err());
        let mut v1 = bytes.clone();
        v1[0] = 1;
        assert!(decode_heartbeat(&v1).is_err());
        let mut inverted = bytes.clone();
        inverted[4] = 1; // oldest 2^24 + 1 > latest 258
        assert!(decode_heartbeat(&inverted).is_err());
        let mut empty = bytes[..17].to_vec();
        empty.push(0);
        assert!(decode_heartbeat(&empty).is_err());
        let mut garbage = bytes[..17].to_vec();
        garbage.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
        assert!(decode_heartbeat(&garbage).is_err());
    }

    #[test]
    fn fit_blocks_keeps_frames_bounded() {
        let big = vec![vec![7u8; MAX_BLOCK_BYTES]; MAX_BLOCKS_PER_REQUEST];
        let kept = fit_blocks(big);
        assert!(kept.len() < MAX_BLOCKS_PER_REQUEST);
        assert!(encode_response(&SyncResponse::Blocks(kept)).len() <= MAX_RESPONSE_BYTES);
        assert_eq!(fit_blocks(vec![vec![], vec![1]]), vec![vec![1]]);
    }

    #[test]
    fn topics_name_the_network() {
        let net = NetworkId(42);
        assert_eq!(blocks_topic(net).to_string(), "/weft/42/blocks/2");
        assert_eq!(heartbeat_topic(net).to_string(), "/weft/42/heartbeat/2");
    }
}
