//! A hostile but allowlisted peer, built directly on libp2p: it gossips bytes that are
//! not a block, or opens `/weft/sync/1` streams with garbage or oversize frames. The
//! victim must ban and disconnect it at once.

mod common;

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use futures_util::StreamExt;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::gossipsub::{self, MessageAuthenticity};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, StreamProtocol, SwarmBuilder};
use weft_network::protocol::{
    blocks_topic, encode_heartbeat, heartbeat_topic, message_id, Heartbeat, SYNC_PROTOCOL,
};
use weft_network::MilestoneRange;
use weft_network::{NetworkEvent, PeerId};

/// Writes requests verbatim and reads whatever comes back.
#[derive(Clone, Default)]
struct RawCodec;

#[async_trait]
impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut buf = Vec::new();
        io.take(1 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut buf = Vec::new();
        io.take(1 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&res).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Attacker {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawCodec>,
}

enum Attack {
    /// Publish these bytes on the blocks topic.
    Gossip(Vec<u8>),
    /// Send these bytes as a raw `/weft/sync/1` request.
    Sync(Vec<u8>),
    /// Publish these messages, one after the other, on the heartbeat topic.
    Heartbeats(Vec<Vec<u8>>),
}

/// Runs the attacker (seed 66) against `victim` until the test ends.
fn spawn_attacker(victim: PeerId, victim_addr: Multiaddr, attack: Attack) {
    let keypair = key(66).keypair();
    // Weft's gossip is unsigned (specs/network.md §3): the attacker speaks the same,
    // with Weft's content-addressed message ids.
    let blocks = blocks_topic(network_id()).hash();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(move |m| message_id(&blocks, m))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .build()
        .expect("gossipsub config");
    let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
        .expect("gossipsub");
    let topic = blocks_topic(network_id());
    gossip.subscribe(&topic).expect("subscribe");
    let heartbeats = heartbeat_topic(network_id());
    gossip.subscribe(&heartbeats).expect("subscribe");
    let sync = request_response::Behaviour::with_codec(
        RawCodec,
        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default(),
    );
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| Attacker {
            gossipsub: gossip,
            sync,
        })
        .expect("behaviour")
        .build();
    swarm.dial(victim_addr).expect("dial");
    tokio::spawn(async move {
        let mut connected = false;
        let mut done = false;
        let mut sent = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                event = swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionEstablished { .. } = event {
                        connected = true;
                    }
                }
                _ = tick.tick() => {
                    if !connected || done {
                        continue;
                    }
                    match &attack {
                        Attack::Gossip(bytes) => {
                            done = swarm
                                .behaviour_mut()
                                .gossipsub
                                .publish(topic.clone(), bytes.clone())
                                .is_ok();
                        }
                        Attack::Sync(bytes) => {
                            swarm.behaviour_mut().sync.send_request(&victim, bytes.clone());
                            done = true;
                        }
                        Attack::Heartbeats(list) => {
                            if swarm
                                .behaviour_mut()
                                .gossipsub
                                .publish(heartbeats.clone(), list[sent].clone())
                                .is_ok()
                            {
                                sent += 1;
                            }
                            done = sent == list.len();
                        }
                    }
                }
            }
        }
    });
}

async fn victim_bans(attack: Attack) {
    let victim = start(test_config(1, vec![accept_only(66)])).await;
    spawn_attacker(
        victim.handle.local_peer_id(),
        victim.handle.entry().to_multiaddr(),
        attack,
    );
    eventually("the attacker to be banned", || async {
        victim.banned(peer(66))
    })
    .await;
    eventually("the attacker to be disconnected", || async {
        !victim.connected_to(peer(66)).await
    })
    .await;
    let status = victim.handle.peers().await.expect("peers");
    assert!(status[0].banned_for.is_some());
    assert!(!victim
        .events()
        .iter()
        .any(|e| matches!(e, NetworkEvent::Block { .. })));
    victim.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossiping_garbage_gets_a_peer_banned() {
    victim_bans(Attack::Gossip(b"definitely not a block".to_vec())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_of_another_network_gets_a_peer_banned() {
    let foreign = weft_types::BlockBuilder::new(
        weft_types::NetworkId::from_name("elsewhere"),
        vec![weft_types::BlockId::GENESIS],
        1,
    )
    .anonymous()
    .to_bytes();
    victim_bans(Attack::Gossip(foreign)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_sync_request_gets_a_peer_banned() {
    // A well-framed body with an unknown request kind.
    victim_bans(Attack::Sync(vec![1, 0, 0, 0, 0xEE])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_sync_frame_gets_a_peer_banned() {
    // A length prefix of 256 MiB: refused before anything is allocated.
    victim_bans(Attack::Sync(vec![0, 0, 0, 0x10])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_naming_another_peer_is_not_believed() {
    // Gossip is unsigned, so a heartbeat names its author; the victim believes it only
    // from that author's own connection. The attacker claims a range for the honest
    // peer 2 (connected to the victim), then announces its own.
    let victim = start(test_config(1, vec![accept_only(66), accept_only(2)])).await;
    // The honest peer heartbeats rarely, so nothing of its own overwrites a forged range
    // before the check (its range is known from the status exchange on connecting).
    let mut honest_config = test_config(2, vec![victim.handle.entry()]);
    honest_config.heartbeat_interval = Duration::from_secs(3600);
    let honest = start(honest_config).await;
    eventually("the honest peer's range to be known", || async {
        victim.range_of(peer(2)).await.is_some()
    })
    .await;
    let heartbeat = |oldest, latest, author| {
        encode_heartbeat(&Heartbeat {
            range: MilestoneRange { oldest, latest },
            sent_at_ms: 1,
            author,
        })
    };
    spawn_attacker(
        victim.handle.local_peer_id(),
        victim.handle.entry().to_multiaddr(),
        Attack::Heartbeats(vec![heartbeat(5, 900, peer(2)), heartbeat(4, 11, peer(66))]),
    );
    // Both travel over the same connection in order: once the second is recorded, the
    // first was judged.
    eventually("the attacker's own range to be recorded", || async {
        victim.range_of(peer(66)).await
            == Some(MilestoneRange {
                oldest: 4,
                latest: 11,
            })
    })
    .await;
    assert_eq!(
        victim.range_of(peer(2)).await,
        Some(MilestoneRange {
            oldest: 0,
            latest: 0
        }),
        "the forged range is not believed"
    );
    assert!(!victim.banned(peer(66)));
    honest.handle.shutdown().await;
    victim.handle.shutdown().await;
}
