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
use weft_network::protocol::{blocks_topic, SYNC_PROTOCOL};
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
}

/// Runs the attacker (seed 66) against `victim` until the test ends.
fn spawn_attacker(victim: PeerId, victim_addr: Multiaddr, attack: Attack) {
    let keypair = key(66).keypair();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .build()
        .expect("gossipsub config");
    let mut gossip =
        gossipsub::Behaviour::new(MessageAuthenticity::Signed(keypair.clone()), gossip_config)
            .expect("gossipsub");
    let topic = blocks_topic(network_id());
    gossip.subscribe(&topic).expect("subscribe");
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
