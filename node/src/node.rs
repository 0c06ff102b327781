//! The node's assembly: every actor is created and wired here, and nowhere else.
//!
//! Order matters only in one place: the network actor exists before the swarm task (the
//! task reports to it), and every protocol actor subscribes its topics through it.
//! Each protocol actor follows `probe` below: certificate collection (`certify`) next;
//! ballots and the charter will follow it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, AsyncContext};
use libp2p::PeerId;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use x0_actors::auth::{AuthActor, AuthMetrics, AuthSetup, Downstream};
use x0_actors::ballot::{BallotActor, BallotMetrics, BallotSetup};
use x0_actors::certify::{
    AnomalyWatch, CertifyActor, CertifyMetrics, CertifySetup, SubscribeCertified,
};
use x0_actors::messages::{AttachSync, PeerKey, Stop, Subscribe, WatchPeers};
use x0_actors::probe::{ProbeActor, ProbeMetrics};
use x0_actors::sync::{SyncActor, SyncMetrics, SyncSetup};
use x0_core::anomaly::AnomalyLimits;
use x0_core::auth::token::inspect;
use x0_core::certify::wire::CertificateMessage;
use x0_core::probe::{ProbeConfig, ProbeCore};
use x0_core::topics;

use crate::config::Config;
use crate::http::status::NodeFacts;
use crate::http::{self, HttpServer};
use crate::journal::StoreJournal;
use crate::network::metrics::NetworkMetrics;
use crate::network::{self, GetNetworkStatus, NetworkActor, NetworkStatus};
use crate::node_keys::NodeKeys;
use crate::snapshot::SnapshotClient;
use crate::snapshot_watch::{SnapshotMetrics, SnapshotWatch};
use crate::store::{Store, StoreError};
use crate::{identity, NodeError};
use x0_actors::charter::{CharterActor, CharterMetrics, CharterSettings, Telemetry};

/// A running node. Drop it only through [`Node::shutdown`].
pub struct Node {
    pub peer_id: PeerId,
    pub network: Addr<NetworkActor>,
    pub probe: Addr<ProbeActor>,
    /// Certificate collection; `None` without a `[committee]` in the config.
    pub certify: Option<Addr<CertifyActor>>,
    /// Token and replay checks; `None` without an `[auth]` in the config.
    pub auth: Option<Addr<AuthActor>>,
    /// The local fallback ballot; `None` without a `[committee]`.
    pub ballot: Option<Addr<BallotActor>>,
    /// The Charter's enforcement actor; `None` without a `[charter]`.
    pub charter: Option<Addr<CharterActor>>,
    /// Anti-entropy sync; `None` without an `[auth]` or with `sync.enabled = false`.
    pub sync: Option<Addr<SyncActor>>,
    /// The Snapshot poller; `None` without a `[snapshot]`.
    snapshot: Option<tokio::task::JoinHandle<()>>,
    pub http_addr: SocketAddr,
    http: HttpServer,
    store: Arc<Store>,
}

/// How long start-up waits for the listeners to report their addresses.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

impl Node {
    /// The node's state database (tests make its writes fail with [`Store::fail_writes`]).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Starts a node on the current actix system.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        let data_dir = config.data_dir();
        let key = identity::load_or_create(&data_dir)?;
        let peer_id = key.public().to_peer_id();
        let store = Arc::new(Store::open(&data_dir)?);
        let lifecycle = store.lifecycle();
        if !lifecycle.previous_stop_clean {
            tracing::warn!(data_dir = %data_dir.display(), "the previous run on this data dir did not stop cleanly");
        }
        if !config.sync.enabled && config.certify.republish_window_ms == 0 {
            tracing::warn!(
                "sync.enabled = false and certify.republish_window_ms = 0: a certificate formed while this node was cut off or down never reaches it; set certify.republish_window_ms (e.g. 3600000) or enable sync"
            );
        }
        let mut registry = Registry::default();

        // Network: actor first, then the task that owns the swarm.
        let (commands, command_queue) = mpsc::channel(network::COMMAND_QUEUE_LEN);
        let network_metrics = NetworkMetrics::register(registry.sub_registry_with_prefix("x0"));
        let network = NetworkActor::new(
            commands,
            config.network.limits.validations_inflight_max,
            network_metrics.clone(),
        )
        .start();
        if let Err(error) = network::spawn(
            &key,
            &config,
            &mut registry,
            network.clone(),
            command_queue,
            network_metrics,
        ) {
            stop_actors(&network, &[]).await;
            return Err(error);
        }

        // Probe: measures gossip health; owns topics::PROBE.
        let probe_metrics = ProbeMetrics::register(registry.sub_registry_with_prefix("x0"));
        let probe_core = ProbeCore::new(ProbeConfig {
            future_skew_ms_max: config.probe.future_skew_ms_max,
            age_ms_max: config.probe.age_ms_max,
            body_bytes: config.probe.body_bytes,
        });
        let probe_interval =
            (config.probe.interval_ms > 0).then(|| Duration::from_millis(config.probe.interval_ms));
        let probe = ProbeActor::new(
            probe_core,
            network.clone().recipient(),
            probe_interval,
            probe_metrics,
        )
        .start();

        // Auth sits between the network and certify, both ways: inbound privileged
        // messages pass its gate before certify sees them; certify's own proposals and
        // shares leave through it, sealed with this node's token. Its address exists
        // before certify (which publishes through it) and it learns certify's afterwards.
        let auth_context = match auth_setup(&config, &data_dir, &key, &store) {
            Ok(setup) => setup.map(|setup| (setup, actix::Context::<AuthActor>::new())),
            Err(error) => {
                stop_actors(&network, &[probe.clone().recipient()]).await;
                return Err(error);
            }
        };
        let publish_via: actix::Recipient<x0_actors::messages::Publish> = match &auth_context {
            Some((_, context)) => context.address().recipient(),
            None => network.clone().recipient(),
        };

        // Certify: collects signature shares into certificates; owns the proposals, shares
        // and certificates topics. Only with a committee in the config.
        let certify = match certify_actor(
            &config,
            &data_dir,
            &peer_id,
            &store,
            publish_via,
            &mut registry,
        ) {
            Ok(certify) => certify,
            Err(error) => {
                stop_actors(&network, &[probe.clone().recipient()]).await;
                return Err(error);
            }
        };
        // Ballots: the local fallback when the DAO's Snapshot hub is down; owns the ballots
        // topic behind auth, publishes through it, and hands passed effects to certify.
        let ballot = match (&certify, &auth_context) {
            (Some(certify), Some((_, auth_context))) => {
                match ballot_actor(&config, &key, store.clone(), &mut registry) {
                    Ok(setup) => {
                        let (setup, metrics) = setup;
                        let actor = BallotActor::new(
                            setup,
                            Box::new(StoreJournal(store.clone())),
                            auth_context.address().recipient(),
                            Some(certify.clone().recipient()),
                            metrics,
                        );
                        Some(actor.start())
                    }
                    Err(error) => {
                        let mut started = vec![probe.clone().recipient::<Stop>()];
                        started.push(certify.clone().recipient::<Stop>());
                        stop_actors(&network, &started).await;
                        return Err(error);
                    }
                }
            }
            _ => None,
        };
        let auth = auth_context.map(|(setup, context)| {
            let metrics = AuthMetrics::register(registry.sub_registry_with_prefix("x0"));
            let actor = AuthActor::new(
                setup,
                Box::new(StoreJournal(store.clone())),
                network.clone().recipient(),
                Downstream {
                    certify: certify.as_ref().map(|c| c.clone().recipient()),
                    ballots: ballot.as_ref().map(|b| b.clone().recipient()),
                },
                metrics,
            );
            context.run(actor)
        });
        // Sync: fetches what gossip did not bring (a partition, a restart, a late join)
        // and hands it back through the network actor to its topic's owner, so it meets
        // the same checks. It learns of peers already connected when it starts watching.
        let sync = sync_actor(&config, &network, &store, &mut registry);
        let mut protocol_actors = vec![probe.clone().recipient::<Stop>()];
        protocol_actors.extend(certify.iter().map(|c| c.clone().recipient::<Stop>()));
        protocol_actors.extend(ballot.iter().map(|b| b.clone().recipient::<Stop>()));
        protocol_actors.extend(auth.iter().map(|a| a.clone().recipient::<Stop>()));
        protocol_actors.extend(sync.iter().map(|s| s.clone().recipient::<Stop>()));

        // Snapshot: polls the DAO's hub, reports its health to the ballot actor and hands
        // passed decisions to certify.
        let snapshot = match snapshot_watch(&config, &ballot, &certify, &mut registry) {
            Ok(watch) => watch.map(|watch| actix::spawn(watch.run())),
            Err(error) => {
                stop_actors(&network, &protocol_actors).await;
                return Err(error);
            }
        };

        // The Charter: filters the export and the telemetry push, in the kernel too where
        // the host allows it; certified `charter/` changes replace its policy.
        let charter_setup = match charter_settings(&config, &data_dir) {
            Ok(settings) => settings.map(|settings| {
                let metrics = CharterMetrics::register(registry.sub_registry_with_prefix("x0"));
                (settings, metrics)
            }),
            Err(error) => {
                if let Some(snapshot) = &snapshot {
                    snapshot.abort();
                }
                stop_actors(&network, &protocol_actors).await;
                return Err(error);
            }
        };
        let http_metrics =
            http::guards::HttpMetrics::register(registry.sub_registry_with_prefix("x0"));
        let registry = Arc::new(registry);
        let charter = charter_setup.map(|(settings, metrics)| {
            CharterActor::new(settings, registry.clone(), metrics).start()
        });
        protocol_actors.extend(charter.iter().map(|c| c.clone().recipient::<Stop>()));

        // HTTP last: everything it reports on exists now.
        let facts = NodeFacts {
            data_dir: data_dir.display().to_string(),
            starts: lifecycle.starts,
            previous_stop_clean: lifecycle.previous_stop_clean,
        };
        let serving = async {
            subscribe(&network, topics::PROBE, probe.clone().recipient()).await?;
            if let Some(auth) = &auth {
                subscribe(&network, topics::REVOCATIONS, auth.clone().recipient()).await?;
            }
            if let Some(certify) = &certify {
                let auth = auth
                    .as_ref()
                    .expect("config validation: a committee needs [auth]");
                for topic in [topics::PROPOSALS, topics::SHARES, topics::BALLOTS] {
                    subscribe(&network, topic, auth.clone().recipient()).await?;
                }
                subscribe(&network, topics::CERTIFICATES, certify.clone().recipient()).await?;
                if let Some(charter) = &charter {
                    let subscribe = SubscribeCertified {
                        prefix: "charter/".into(),
                        recipient: charter.clone().recipient(),
                    };
                    certify
                        .send(subscribe)
                        .await
                        .map_err(|e| NodeError::Runtime(format!("certify actor: {e}")))?
                        .map_err(|e| NodeError::Runtime(e.to_string()))?;
                }
            }
            http::serve(
                &config.http,
                registry.clone(),
                http_metrics,
                http::Served {
                    network: network.clone(),
                    certify: certify.clone(),
                    auth: auth.clone(),
                    ballot: ballot.clone(),
                    charter: charter.clone(),
                    sync: sync.clone(),
                },
                facts,
            )
            .await
        };
        let http = match serving.await {
            Ok(http) => http,
            Err(error) => {
                if let Some(snapshot) = &snapshot {
                    snapshot.abort();
                }
                stop_actors(&network, &protocol_actors).await;
                return Err(error);
            }
        };
        let node = Node {
            peer_id,
            network,
            probe,
            certify,
            auth,
            ballot,
            charter,
            sync,
            snapshot,
            http_addr: http.local_addr,
            http,
            store,
        };
        let up = async {
            node.wait_for_listeners(config.network.listen.len()).await?;
            // Only now is this a start: a failed one leaves the store as it was.
            node.store.record_start().map_err(NodeError::from)
        };
        if let Err(error) = up.await {
            if let Some(snapshot) = &node.snapshot {
                snapshot.abort();
            }
            stop_actors(&node.network, &protocol_actors).await;
            node.http.stop().await;
            return Err(error);
        }
        Ok(node)
    }

    async fn wait_for_listeners(&self, expected: usize) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let status = self.network_status().await?;
            if status.listen_addrs.len() >= expected {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Runtime(format!(
                    "listeners reported {} of {expected} addresses within {LISTEN_WAIT:?}",
                    status.listen_addrs.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The network's current state (peers, mesh, listen addresses).
    pub async fn network_status(&self) -> Result<NetworkStatus, NodeError> {
        self.network
            .send(GetNetworkStatus)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| NodeError::Runtime("network task stopped".into()))
    }

    /// Stops cleanly: listeners and connections closed, HTTP closed, state flushed.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        if let Some(snapshot) = &self.snapshot {
            snapshot.abort();
        }
        let mut protocol_actors = vec![self.probe.clone().recipient::<Stop>()];
        protocol_actors.extend(self.certify.iter().map(|c| c.clone().recipient::<Stop>()));
        protocol_actors.extend(self.ballot.iter().map(|b| b.clone().recipient::<Stop>()));
        protocol_actors.extend(self.auth.iter().map(|a| a.clone().recipient::<Stop>()));
        protocol_actors.extend(self.sync.iter().map(|s| s.clone().recipient::<Stop>()));
        protocol_actors.extend(self.charter.iter().map(|c| c.clone().recipient::<Stop>()));
        stop_actors(&self.network, &protocol_actors).await;
        self.http.stop().await;
        self.store.record_clean_stop()?;
        tracing::info!(peer_id = %self.peer_id, "stopped cleanly");
        Ok(())
    }
}

/// How often the sync actor expires archived items and ticks its core: the core's
/// timers (rounds every few seconds, request timeouts) need no finer grain.
const SYNC_TICK_MS: u64 = 250;

/// The sync actor, attached to the network (requests, responses, what it holds) and
/// watching its peers; `None` without `[auth]` (nothing a peer could fetch is checked
/// without it) or with `sync.enabled = false`.
fn sync_actor(
    config: &Config,
    network: &Addr<NetworkActor>,
    store: &Arc<Store>,
    registry: &mut Registry,
) -> Option<Addr<SyncActor>> {
    let auth = config.auth.as_ref()?;
    if !config.sync.enabled {
        return None;
    }
    let mut core = config.sync.core_config();
    // A sync penalty decays like gossip's count of invalid messages it mirrors.
    core.penalty_decay_per_s = config.gossip.score.invalid_message_decay;
    let setup = SyncSetup {
        core,
        archive: config.sync.archive_config(auth.message_lifetime_ms),
        epoch: config.committee.as_ref().map_or(0, |c| c.epoch),
        tick_ms: SYNC_TICK_MS,
    };
    let metrics = SyncMetrics::register(registry.sub_registry_with_prefix("x0"));
    let sync = SyncActor::new(
        setup,
        Box::new(StoreJournal(store.clone())),
        network.clone().recipient(),
        network.clone().recipient(),
        metrics,
    )
    .start();
    // Mailbox order: attached before it is told of peers, so its first round's requests
    // find the network ready.
    network.do_send(AttachSync {
        requests: sync.clone().recipient(),
        responses: sync.clone().recipient(),
        held: sync.clone().recipient(),
    });
    network.do_send(WatchPeers {
        watcher: sync.clone().recipient(),
    });
    Some(sync)
}

/// Stops what a node started: protocol actors first, so nothing publishes into a closing
/// network, then the network (listeners, connections, swarm task, network actor).
async fn stop_actors(network: &Addr<NetworkActor>, protocol_actors: &[actix::Recipient<Stop>]) {
    for actor in protocol_actors {
        let _ = actor.send(Stop).await;
    }
    let _ = network.send(network::Shutdown).await;
}

/// Charter cgroups this process made, so that nodes sharing a process (devnet, tests)
/// each get their own.
static CHARTER_CGROUPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The Charter's settings from `[charter]` and `[telemetry]`; `None` without a charter.
fn charter_settings(
    config: &Config,
    data_dir: &std::path::Path,
) -> Result<Option<CharterSettings>, NodeError> {
    let Some(section) = &config.charter else {
        return Ok(None);
    };
    let policy = crate::charter::load_policy(&data_dir.join(&section.policy_file))?;
    let kernel = match section.kernel {
        crate::config::KernelSwitch::Off => None,
        crate::config::KernelSwitch::Auto => {
            let cgroup_dir = if section.cgroup_dir.as_os_str().is_empty() {
                let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
                // Without a cgroup2 mount the enforcer's own host check names the cause.
                x0_ebpf::cgroup2_mount(&mountinfo)
                    .unwrap_or_default()
                    .join(format!(
                        "x0-charter-{}-{}",
                        std::process::id(),
                        CHARTER_CGROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    ))
            } else {
                section.cgroup_dir.clone()
            };
            Some(x0_ebpf::KernelSettings {
                cgroup_dir,
                tc_interfaces: section.tc_interfaces.clone(),
            })
        }
    };
    let exporter_program = match &config.telemetry {
        Some(telemetry) if !telemetry.exporter_program.as_os_str().is_empty() => {
            telemetry.exporter_program.clone()
        }
        _ => std::env::current_exe()
            .map_err(|e| NodeError::Runtime(format!("charter: this program's path: {e}")))?,
    };
    Ok(Some(CharterSettings {
        policy,
        kernel,
        telemetry: config.telemetry.as_ref().map(|t| Telemetry {
            statsd: t.statsd,
            interval: Duration::from_secs(t.push_interval_s),
        }),
        exporter_program,
    }))
}

/// Builds the certify actor from the config's committee, this node's shares and what the
/// store remembers (signed slots, certificates).
fn certify_actor(
    config: &Config,
    data_dir: &std::path::Path,
    peer_id: &PeerId,
    store: &Arc<Store>,
    publish_via: actix::Recipient<x0_actors::messages::Publish>,
    registry: &mut Registry,
) -> Result<Option<Addr<CertifyActor>>, NodeError> {
    let Some(section) = &config.committee else {
        return Ok(None);
    };
    let committee = section
        .committee()
        .map_err(|e| NodeError::Config(format!("config: {e}")))?;
    let shares = section
        .load_shares(&committee, data_dir, peer_id)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    // Older epochs go from the store before anything is loaded: each epoch's tables are
    // bounded, never the sum of all of them.
    let (signed_pruned, certificates_pruned) = store.enter_epoch(committee.epoch)?;
    if signed_pruned + certificates_pruned > 0 {
        tracing::info!(
            epoch = committee.epoch,
            signed_pruned,
            certificates_pruned,
            "pruned the store's older committee epochs"
        );
    }
    let mut certificates = Vec::new();
    for bytes in store.certificates()? {
        let message = CertificateMessage::decode(&bytes).map_err(|e| StoreError::Corrupt {
            path: store.path().to_path_buf(),
            reason: format!("a stored certificate does not decode: {e}"),
        })?;
        certificates.push(message);
    }
    tracing::info!(
        epoch = committee.epoch,
        members = committee.size(),
        member = shares.is_some(),
        certificates = certificates.len(),
        "committee loaded"
    );
    let setup = CertifySetup {
        committee: Arc::new(committee),
        own_key: PeerKey(peer_id.to_bytes()),
        shares,
        signed: store.signed_slots()?,
        certificates,
    };
    let metrics = CertifyMetrics::register(registry.sub_registry_with_prefix("x0"));
    let network_nodes = match config.anomaly.network_nodes {
        0 => setup.committee.size() as u64,
        n => n,
    };
    let limits = AnomalyLimits::new(config.anomaly.core_config())
        .map_err(|e| NodeError::Config(format!("config: anomaly: {e}")))?;
    let anomaly = AnomalyWatch::new(
        limits,
        network_nodes,
        registry.sub_registry_with_prefix("x0"),
    );
    let actor = CertifyActor::new(
        setup,
        Box::new(StoreJournal(store.clone())),
        publish_via,
        config.certify.actor_config(),
        metrics,
        anomaly,
    );
    Ok(Some(actor.start()))
}

/// The Snapshot poller from `[snapshot]`: the client, the registry of voters, and the
/// network size for the 5% quorum (`[anomaly] network_nodes`, or the committee's size).
fn snapshot_watch(
    config: &Config,
    ballot: &Option<Addr<BallotActor>>,
    certify: &Option<Addr<CertifyActor>>,
    registry: &mut Registry,
) -> Result<Option<SnapshotWatch>, NodeError> {
    let Some(section) = &config.snapshot else {
        return Ok(None);
    };
    let client = SnapshotClient::new(section.client_config())
        .map_err(|e| NodeError::Runtime(format!("snapshot: {e}")))?;
    let voters = section
        .registry()
        .map_err(|e| NodeError::Config(format!("config: field `snapshot.registry`: {e}")))?;
    let committee_size = config
        .committee
        .as_ref()
        .and_then(|c| c.committee().ok())
        .map_or(0, |c| c.size() as u64);
    let network_nodes = match config.anomaly.network_nodes {
        0 => committee_size.max(voters.len() as u64).max(1),
        n => n,
    };
    Ok(Some(SnapshotWatch {
        client,
        registry: voters,
        network_nodes,
        poll_interval: Duration::from_secs(section.poll_interval_s),
        ballot: ballot.as_ref().map(|b| b.clone().recipient()),
        effects: certify.as_ref().map(|c| c.clone().recipient()),
        metrics: SnapshotMetrics::register(registry.sub_registry_with_prefix("x0")),
    }))
}

/// The ballot actor's setup: the committee's members (every ballot's electorate), this
/// node's key, the `[ballot]` config, and what the store kept.
fn ballot_actor(
    config: &Config,
    key: &libp2p::identity::Keypair,
    store: Arc<Store>,
    registry: &mut Registry,
) -> Result<(BallotSetup, BallotMetrics), NodeError> {
    let committee = config
        .committee
        .as_ref()
        .expect("ballots run with a committee")
        .committee()
        .map_err(|e| NodeError::Config(format!("config: {e}")))?;
    if committee.size() > x0_core::ballot::wire::ELECTORATE_MAX {
        return Err(NodeError::Config(format!(
            "config: field `committee.members`: {} members exceed the largest ballot electorate ({}); use a smaller committee",
            committee.size(),
            x0_core::ballot::wire::ELECTORATE_MAX
        )));
    }
    let skew_ms = config.auth.as_ref().map(|a| a.skew_ms).unwrap_or(30_000);
    let persisted = store.ballots()?;
    let setup = BallotSetup {
        keys: Box::new(NodeKeys::new(key.clone())),
        members: committee.members().to_vec(),
        config: config.ballot.core_config(
            skew_ms,
            config.snapshot.as_ref().map_or(300, |s| s.outage_s),
        ),
        persisted,
    };
    let metrics = BallotMetrics::register(registry.sub_registry_with_prefix("x0"));
    Ok((setup, metrics))
}

/// The auth actor's setup from `[auth]`: the authority, this node's credential (checked:
/// it must name this node and come from the authority), and what the store persisted.
fn auth_setup(
    config: &Config,
    data_dir: &std::path::Path,
    key: &libp2p::identity::Keypair,
    store: &Arc<Store>,
) -> Result<Option<AuthSetup>, NodeError> {
    let Some(section) = &config.auth else {
        return Ok(None);
    };
    let authority = section.authority().map_err(|e| {
        NodeError::Config(format!("config: field `auth.authority_public_key`: {e}"))
    })?;
    let credential = match &section.credential_file {
        None => None,
        Some(file) => {
            let path = data_dir.join(file);
            let bad = |why: String| {
                NodeError::Config(format!(
                    "config: field `auth.credential_file`: {}: {why}",
                    path.display()
                ))
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read ({e}); mint one with `x0 token mint`")))?;
            let bytes = biscuit_auth::Biscuit::from_base64(text.trim(), authority)
                .and_then(|b| b.to_vec())
                .map_err(|e| {
                    bad(format!(
                        "not a credential from this network's authority ({e})"
                    ))
                })?;
            let summary = inspect(&bytes, &authority).map_err(|e| bad(e.to_string()))?;
            let own =
                x0_core::auth::token::peer_text(&PeerKey(key.public().to_peer_id().to_bytes()));
            if summary.member.as_deref() != Some(own.as_str()) {
                return Err(bad(format!(
                    "it names member {:?}, but this node is {own}",
                    summary.member
                )));
            }
            Some(bytes)
        }
    };
    let persisted_nonces = store.nonces()?;
    let persisted_revoked = store.revoked()?;
    tracing::info!(
        member = credential.is_some(),
        nonces = persisted_nonces.len(),
        revoked = persisted_revoked.len(),
        "auth loaded"
    );
    Ok(Some(AuthSetup {
        authority,
        credential,
        access_ttl_s: section.access_ttl_s,
        gate: section.gate_config(),
        verifier: section.verifier_config(),
        persisted_nonces,
        persisted_revoked,
        keys: Box::new(NodeKeys::new(key.clone())),
    }))
}

async fn subscribe(
    network: &Addr<NetworkActor>,
    topic: &str,
    owner: actix::Recipient<x0_actors::messages::Inbound>,
) -> Result<(), NodeError> {
    network
        .send(Subscribe {
            topic: topic.to_string(),
            owner,
        })
        .await
        .map_err(|e| NodeError::Runtime(format!("network actor: {e}")))?
        .map_err(|e| NodeError::Runtime(format!("subscribe {topic}: {e}")))
}
