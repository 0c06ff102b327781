//! The simulated world: nodes (a gossip model, the node's real admission `Gate`,
//! `CertifyNode` and `ProbeCore`, a persisted store), links (latency, loss, partitions),
//! faults and Byzantine members, driven by the engine. One thread, one RNG, virtual time
//! only.
//!
//! This file holds the run itself: the [`World`] a caller gets, the [`Sim`] over one
//! signature suite with its nodes, how it is built from a scenario, how a node boots, and
//! the event loop that dispatches each event to the part of the world it concerns. Those
//! parts live beside it, one concern per file, all as `impl Sim` blocks over the same
//! state so each reads on its own:
//!
//! * [`links`]: connections, publishing, and an RPC's way over a link (partitions, loss,
//!   latency, delivery);
//! * [`faults`]: the scenario's faults as they fire (crash, restart, churn, partition,
//!   heal, loss, clock skew, hub outages);
//! * [`byzantine`]: what Byzantine nodes do beyond or instead of their cores;
//! * the shells, each hosting one protocol core as the node's actor does:
//!   [`certify_shell`] (signature collection), [`auth_shell`] (capability tokens and the
//!   admission gate), [`probe_shell`] (delivery probes) and [`ballot_shell`] (local
//!   ballots).
//!
//! The order of calls into the run's one RNG is the run: moving code between these files
//! must never change it, or the same seed stops replaying the same trace.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use rand::Rng;
use sha2::{Digest, Sha256};
use x0_core::auth::gate::{is_privileged, Gate, GateConfig};
use x0_core::auth::replay::Nonce;
use x0_core::auth::token::{Revoked, VerifierConfig, CREDENTIAL_TTL_S_DEFAULT};
use x0_core::ballot::book::{BallotBook, BallotConfig};
use x0_core::ballot::wire::{Attestation, BallotId};
use x0_core::certify::committee::Committee;
use x0_core::certify::effects::Carried;
use x0_core::certify::effects::MemoryJournal;
use x0_core::certify::node::{Action, CertifyConfig, CertifyNode, HeldShare};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::{signing_message, Bls};
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::CertificateMessage;
use x0_core::ids::{PeerKey, Verdict};
use x0_core::known_topics::KnownTopics;
use x0_core::probe::{ProbeConfig, ProbeCore};
use x0_core::topics;

use crate::ballots::{BallotStore, KeyTable, NodeKeys};
use crate::crypto::SimSuite;
use crate::engine::{Engine, QueueFull};
use crate::gossip::{
    Acceptance, GossipConfig, GossipMessage, GossipNode, MessageId, NodeId, Rpc, ToValidate,
};
use crate::model_crypto::{CryptoCost, Modelled, OperationCount, Weakness};
use crate::report::{Report, Stats};
use crate::scenario::{Behaviour, Direction, NodeRange, Scenario};
use crate::seen::SeenTable;
use crate::tokens::SimTokens;
use x0_core::sync::archive::ArchiveConfig;
use x0_core::sync::host::SyncHost;
use x0_core::sync::machine::{DeliveryId, SyncConfig};

mod auth_shell;
mod ballot_shell;
mod byzantine;
mod certify_shell;
mod faults;
mod links;
mod probe_shell;
mod sync_shell;

use byzantine::withholds;
use links::LossRule;

/// Virtual time 0 is this Unix time on every honest clock (plus the node's skew).
pub const EPOCH_UNIX_MS: u64 = 1_800_000_000_000;
/// Pending events, at most: a run that schedules without end is a bug to report.
pub const EVENTS_MAX: usize = 50_000_000;
/// Every credential the world mints expires this long after virtual time 0 (the node's
/// default credential lifetime): never within a run.
pub const CREDENTIALS_EXPIRE_UNIX_S: u64 = EPOCH_UNIX_MS / 1000 + CREDENTIAL_TTL_S_DEFAULT;
/// Privileged messages whose admissions are tracked per node (one bit per node each),
/// at most; admissions of messages beyond it are counted, not tracked.
pub const ADMISSIONS_TRACKED_MAX: usize = 65_536;

const TOPICS: [&str; 4] = [
    topics::PROBE,
    topics::PROPOSALS,
    topics::SHARES,
    topics::CERTIFICATES,
];

#[derive(Debug)]
enum Event {
    Rpc {
        to: NodeId,
        from: NodeId,
        rpc: Rpc,
    },
    Heartbeat {
        node: NodeId,
    },
    Tick {
        node: NodeId,
    },
    Probe {
        node: NodeId,
    },
    Misbehave {
        node: NodeId,
    },
    Propose {
        index: usize,
    },
    Fault {
        index: usize,
    },
    /// A node that left in a churn fault comes back.
    Rejoin {
        node: NodeId,
    },
    /// A node asks its Snapshot hub (ballot runs only).
    HubPoll {
        node: NodeId,
    },
    /// A node's ballot book has a deadline due.
    BallotTick {
        node: NodeId,
    },
    /// The scenario's ballot `index` is opened by its opener.
    OpenBallot {
        index: usize,
    },
    /// The authority's revocation list `index` is handed to its publisher.
    Revoke {
        index: usize,
    },
    /// A member votes on a ballot it has seen (as its behaviour says).
    Vote {
        node: NodeId,
        ballot: BallotId,
    },
    /// A node's sync host has a round, a timeout or an expiry due.
    SyncTick {
        node: NodeId,
    },
    /// A sync request or response reaches `to`.
    Sync {
        to: NodeId,
        from: NodeId,
        frame: sync_shell::SyncFrame,
    },
    /// What a node's core produced, out once its CPU is done with the crypto it cost.
    Finish {
        node: NodeId,
        work: Box<Finished>,
    },
}

/// A core call's results held back for its CPU time.
#[derive(Debug)]
struct Finished {
    actions: Vec<Action>,
    /// The verdict on the message the call validated, if it decided one.
    verdict: Option<(Origin, Verdict)>,
}

/// How a message being validated reached the node: its verdict goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A gossip message: the verdict goes to the gossip model (forward or penalise).
    Gossip(MessageId),
    /// An item fetched by sync: the verdict goes to the sync core (archive or penalise).
    Sync(DeliveryId),
}

/// What a node persisted: what survives a crash.
#[derive(Default)]
struct Store {
    /// Signed slots and certificates, under the node's own rules (a second signature for
    /// a slot is refused).
    journal: MemoryJournal,
    /// Nonces the gate admitted, with their messages' timestamps (the auth journal).
    /// Those out of the window are dropped whenever the list doubles, so it holds at most
    /// twice what the gate holds (or `NONCES_PRUNE_MIN`).
    nonces: Vec<(Nonce, u64)>,
    nonces_prune_at: usize,
    /// What the ballot shell was told to store.
    ballots: BallotStore,
    /// The sync archive as the node's journal keeps it (sync runs only).
    sync: sync_shell::SyncJournal,
    /// Revoked token ids the gate took from lists, written before they are in force.
    revoked: Vec<Revoked>,
}

type Authority<S> = <<S as SimSuite>::Tokens as SimTokens>::Authority;
type Verifier<S> = <<S as SimSuite>::Tokens as SimTokens>::Verifier;

/// One simulated node: its gossip model, the cores its shells host, its store, and
/// what it does if it is Byzantine.
struct SimNode<S: SimSuite> {
    gossip: GossipNode,
    /// The admission gate of privileged topics; `None` while crashed.
    gate: Option<Gate<Verifier<S>, KnownTopics, crate::seals::ModelSeals>>,
    /// `None` while crashed.
    certify: Option<CertifyNode<S>>,
    /// The member credential (configuration: it survives a crash).
    credential: Vec<u8>,
    /// The access token in use and when it ends (Unix s); memory, derived when needed.
    access: Option<(Vec<u8>, u64)>,
    /// Virtual time its CPU is busy until, µs: crypto work queues behind earlier work.
    cpu_free_us: u64,
    /// The node ticks on the grid `tick_grid_ms + k * tick_ms`, as a node with a fixed
    /// tick interval does, but only where its core has work ([`CertifyNode::next_tick_ms`]):
    /// the same outcome without an event every 50 ms per node.
    tick_grid_ms: u64,
    /// The tick planned, if any.
    tick_at_ms: Option<u64>,
    probe: ProbeCore,
    store: Store,
    up: bool,
    skew_ms: i64,
    byzantine: BTreeSet<Behaviour>,
    /// The node this one's eclipse group attacks.
    eclipse_target: Option<NodeId>,
    /// Gossip messages whose verdict the certify node holds.
    held: BTreeMap<HeldShare, Origin>,
    /// The most the certify node held at once, as (pending entries, slots charged):
    /// what `certify_state_bounded` checks against the collector's bounds.
    certify_state_peak: (usize, usize),
    /// Restarts bump this, so timers of an earlier life are ignored.
    life: u32,
    /// What a replaying Byzantine node saw last: (topic, data), at most `REPLAY_MAX`.
    recorded: VecDeque<(&'static str, Vec<u8>)>,
    /// The last proposal a forger or member beyond its rights saw, for its shares.
    last_proposal: Option<(ProposalId, ChangeClass)>,
    /// `replay_privileged`: the last `REPLAY_MAX` privileged messages of honest authors it
    /// received, and the first `REPLAY_MAX` not yet re-injected, with when it got them.
    captured: VecDeque<Rc<GossipMessage>>,
    reinject: VecDeque<(u64, Rc<GossipMessage>)>,
    /// The ballot core (ballot runs only); `None` while crashed.
    ballot: Option<BallotBook<NodeKeys>>,
    /// The ballot tick planned, if any (virtual ms).
    ballot_tick_at_ms: Option<u64>,
    /// `spam_opens`: the newest outage attestation of each member it has seen.
    heard_attestations: BTreeMap<PeerKey, Attestation>,
    /// Anti-entropy sync (sync runs only); `None` while crashed.
    sync: Option<SyncHost>,
    /// The sync tick planned, if any (virtual ms).
    sync_tick_at_ms: Option<u64>,
}

/// A run: real BLS for small runs, the cost-modelled suite for large ones (the
/// scenario's `[crypto]` decides).
pub enum World {
    Real(Sim<Bls>),
    Modelled(Sim<Modelled>),
}

impl World {
    pub fn new(scenario: Scenario, seed: u64) -> World {
        if scenario.real_crypto() {
            World::Real(Sim::new(scenario, seed, Weakness::None))
        } else {
            World::Modelled(Sim::new(scenario, seed, Weakness::None))
        }
    }

    /// A run whose nodes cut a corner (always modelled crypto): only for showing that
    /// the report catches what a broken core lets through.
    pub fn weakened(scenario: Scenario, seed: u64, weakness: Weakness) -> World {
        World::Modelled(Sim::new(scenario, seed, weakness))
    }

    /// Whether the nodes run real BLS.
    pub fn real_crypto(&self) -> bool {
        matches!(self, World::Real(_))
    }

    /// Runs the scenario to its end and reports.
    pub fn run(self) -> Report {
        self.run_with_progress(&mut |_, _| {})
    }

    /// Runs the scenario to its end, calling `progress(now_ms, end_ms)` as virtual time
    /// advances (at most once per simulated second), and reports. The callback sees only
    /// time; it cannot change the run, so the trace is the same with or without it.
    pub fn run_with_progress(self, progress: &mut dyn FnMut(u64, u64)) -> Report {
        match self {
            World::Real(sim) => sim.run_with_progress(progress),
            World::Modelled(sim) => sim.run_with_progress(progress),
        }
    }
}

/// The world over one signature suite.
pub struct Sim<S: SimSuite> {
    scenario: Scenario,
    engine: Engine<(u32, Event)>,
    nodes: Vec<SimNode<S>>,
    links: Vec<BTreeSet<NodeId>>,
    /// The peers each node dialled (its outbound connections, which gossipsub keeps in
    /// its mesh against inbound floods: `mesh_outbound_min`).
    dialled: Vec<BTreeSet<NodeId>>,
    eclipse_targets: BTreeSet<NodeId>,
    /// Probes published while the run was quiet ([`Sim::quiet`]): one id per probe.
    quiet_probes: BTreeSet<MessageId>,
    /// Groups, direction, and the bridges that keep links to every group.
    partitions: Option<(Vec<NodeRange>, Direction, Vec<NodeRange>)>,
    /// The gossip topics every node joins (the ballots topic only in ballot runs, so a
    /// run without ballots draws the same randomness as before they existed).
    topics: Vec<&'static str>,
    /// Node keys of the ballot core (ballot runs only), its configuration, and the
    /// committee's members (sorted): every ballot's electorate.
    ballot_keys: Option<KeyTable>,
    ballot_config: BallotConfig,
    members: Vec<PeerKey>,
    /// The scenario's ballots by id, once opened.
    ballot_ids: BTreeMap<BallotId, usize>,
    /// Offline checks of decided certificates, by SHA-256 of their encoding.
    ballot_verified: BTreeMap<[u8; 32], Result<x0_core::ballot::rules::Outcome, String>>,
    /// The sync core's and archive's configuration, when the scenario runs sync.
    sync_config: Option<(SyncConfig, ArchiveConfig)>,
    /// Nodes a published scenario revocation list revoked, with those lists' sequences.
    revoked_nodes: BTreeMap<NodeId, BTreeSet<u64>>,
    /// The published scenario lists: sequence and the ids each revokes.
    revocation_lists: Vec<(u64, Vec<Vec<u8>>)>,
    losses: Vec<LossRule>,
    gossip_config: GossipConfig,
    /// Every node's seen cache, one column each.
    seen: Rc<RefCell<SeenTable>>,
    certify_config: CertifyConfig,
    committee: Arc<Committee<S>>,
    keys: (S::Keys, S::Keys),
    /// Crypto operations since the last charge, and what each costs in virtual CPU time.
    operations: Rc<OperationCount>,
    cost: CryptoCost,
    /// Virtual CPU time all nodes spent on crypto, µs (modelled runs).
    cpu_busy_us: u64,
    /// The network authority every gate trusts, and each forger's own.
    authority: Authority<S>,
    forgers: BTreeMap<NodeId, Authority<S>>,
    gate_config: GateConfig,
    verifier_config: VerifierConfig,
    weakness: Weakness,
    /// Which privileged messages each honest node admitted: one column per node.
    admissions: SeenTable,
    stats: Stats,
    trace: Sha256,
    seed: u64,
}

pub fn peer_key(node: NodeId) -> PeerKey {
    PeerKey(format!("sim-node-{node}").into_bytes())
}

fn node_of(key: &PeerKey) -> Option<NodeId> {
    std::str::from_utf8(&key.0)
        .ok()?
        .strip_prefix("sim-node-")?
        .parse()
        .ok()
}

impl<S: SimSuite> Sim<S> {
    pub fn new(scenario: Scenario, seed: u64, weakness: Weakness) -> Sim<S> {
        let mut engine = Engine::new(seed, EVENTS_MAX);
        let n = scenario.topology.nodes;
        let m = scenario.committee.size as usize;
        let overrides = &scenario.gossip;
        let defaults = GossipConfig::default();
        let gossip_config = GossipConfig {
            mesh_n: overrides.mesh_n.unwrap_or(defaults.mesh_n),
            mesh_n_low: overrides.mesh_n_low.unwrap_or(defaults.mesh_n_low),
            mesh_n_high: overrides.mesh_n_high.unwrap_or(defaults.mesh_n_high),
            gossip_lazy: overrides.gossip_lazy.unwrap_or(defaults.gossip_lazy),
            heartbeat_interval_ms: overrides
                .heartbeat_interval_ms
                .unwrap_or(defaults.heartbeat_interval_ms),
            history_length: overrides.history_length.unwrap_or(defaults.history_length),
            history_gossip: overrides.history_gossip.unwrap_or(defaults.history_gossip),
            flood_publish: overrides.flood_publish.unwrap_or(defaults.flood_publish),
            ..defaults
        };
        let certify_config = CertifyConfig {
            collector: scenario.collector_config(),
            tick_ms: 50,
            held_verdicts_max: 4_096,
            proposal_future_skew_ms_max: 30_000,
            proposal_age_ms_max: 3_600_000,
            retry_queue_max: 256,
            republish_interval_ms: 60_000,
            // Sync recovers certificates, so with it nobody republishes (the node's
            // default); without it a scenario keeps the window a node without sync is
            // told to set, so files written before sync replay (docs/BENCHMARKS.md).
            republish_window_ms: scenario
                .committee
                .republish_window_ms
                .unwrap_or(if scenario.sync.enabled { 0 } else { 3_600_000 }),
        };
        // Keys are dealt from the run's RNG: the same seed deals the same committee.
        let operations = Rc::new(OperationCount::default());
        let standard = S::deal(
            m,
            ChangeClass::Standard,
            engine.rng(),
            weakness,
            &operations,
        );
        let supermajority = S::deal(
            m,
            ChangeClass::Supermajority,
            engine.rng(),
            weakness,
            &operations,
        );
        // The network authority, from the run's RNG: the same seed, the same key pair.
        let authority = <S::Tokens as SimTokens>::authority(engine.rng());
        let committee = Arc::new(
            Committee::with_schemes(
                1,
                (0..m as u32).map(peer_key).collect(),
                S::scheme(&standard, m),
                S::scheme(&supermajority, m),
                scenario.committee.supermajority_slots.clone(),
            )
            .expect("a validated scenario makes a valid committee"),
        );
        let spec = &scenario.crypto;
        let cost = CryptoCost {
            sign_share_us: spec.sign_share_us,
            verify_share_us: spec.verify_share_us,
            combine_per_share_us: spec.combine_per_share_us,
            verify_certificate_us: spec.verify_certificate_us,
        };
        let (links, dialled) = links::random_topology(
            n,
            scenario.topology.connections_per_node as usize,
            engine.rng(),
        );
        let byzantine_groups = scenario.byzantine.clone();
        let forger_nodes: BTreeSet<NodeId> = byzantine_groups
            .iter()
            .filter(|group| group.behaviours.contains(&Behaviour::ForgeTokens))
            .flat_map(|group| group.members.iter())
            .collect();
        let forgers = forger_nodes
            .into_iter()
            .map(|node| (node, <S::Tokens as SimTokens>::authority(engine.rng())))
            .collect();
        let mut world = Sim {
            engine,
            nodes: Vec::with_capacity(n as usize),
            links,
            dialled,
            eclipse_targets: scenario
                .byzantine
                .iter()
                .filter_map(|group| group.target)
                .collect(),
            quiet_probes: BTreeSet::new(),
            partitions: None,
            // A topic joins only where the scenario uses it: a run without ballots or
            // revocations draws the same randomness as before they existed.
            topics: TOPICS
                .iter()
                .copied()
                .chain(scenario.has_ballots().then_some(topics::BALLOTS))
                .chain((!scenario.revocations.is_empty()).then_some(topics::REVOCATIONS))
                .collect(),
            ballot_keys: scenario.has_ballots().then(|| KeyTable::new(seed, n)),
            ballot_config: BallotConfig::default(),
            members: {
                let mut members: Vec<PeerKey> = (0..m as u32).map(peer_key).collect();
                members.sort();
                members
            },
            ballot_ids: BTreeMap::new(),
            ballot_verified: BTreeMap::new(),
            revoked_nodes: BTreeMap::new(),
            revocation_lists: Vec::new(),
            sync_config: scenario.sync.enabled.then(|| {
                let archive = ArchiveConfig {
                    envelope_hold_ms: GateConfig::default().lifetime_ms,
                    ..ArchiveConfig::default()
                };
                (scenario.sync.core_config(), archive)
            }),
            losses: Vec::new(),
            gossip_config,
            seen: SeenTable::shared(n as usize),
            certify_config,
            committee,
            keys: (standard, supermajority),
            operations,
            cost,
            cpu_busy_us: 0,
            authority,
            forgers,
            gate_config: GateConfig::default(),
            verifier_config: VerifierConfig::default(),
            weakness,
            admissions: SeenTable::new(n as usize),
            stats: Stats::default(),
            trace: Sha256::new(),
            scenario,
            seed,
        };
        for node in 0..n {
            let byzantine: BTreeSet<Behaviour> = byzantine_groups
                .iter()
                .filter(|group| group.members.contains(node))
                .flat_map(|group| group.behaviours.iter().copied())
                .collect();
            let eclipse_target = byzantine_groups
                .iter()
                .filter(|group| group.members.contains(node))
                .find_map(|group| group.target);
            let credential = world.credential(node, &byzantine);
            let sim = SimNode {
                gossip: world.gossip_node(node),
                gate: None,
                certify: None,
                credential,
                access: None,
                cpu_free_us: 0,
                tick_grid_ms: 0,
                tick_at_ms: None,
                probe: ProbeCore::new(ProbeConfig::default()),
                store: Store::default(),
                up: true,
                skew_ms: 0,
                byzantine,
                eclipse_target,
                held: BTreeMap::new(),
                certify_state_peak: (0, 0),
                life: 0,
                recorded: VecDeque::new(),
                last_proposal: None,
                captured: VecDeque::new(),
                reinject: VecDeque::new(),
                ballot: None,
                ballot_tick_at_ms: None,
                heard_attestations: BTreeMap::new(),
                sync: None,
                sync_tick_at_ms: None,
            };
            world.nodes.push(sim);
            world.boot(node);
        }
        for node in 0..n {
            for peer in world.dialled[node as usize].clone() {
                world.open_connection(node, peer);
            }
        }
        world
    }

    fn gossip_node(&self, node: NodeId) -> GossipNode {
        GossipNode::with_seen_table(
            node,
            self.gossip_config,
            self.topics.clone(),
            self.seen.clone(),
            node as usize,
        )
    }

    fn schedule(&mut self, delay_ms: u64, event: Event) {
        let life = match &event {
            Event::Heartbeat { node }
            | Event::Tick { node }
            | Event::Probe { node }
            | Event::Misbehave { node }
            | Event::HubPoll { node }
            | Event::BallotTick { node }
            | Event::Vote { node, .. }
            | Event::SyncTick { node }
            | Event::Finish { node, .. } => self.nodes[*node as usize].life,
            _ => 0,
        };
        if let Err(QueueFull { events_max }) = self.engine.schedule(delay_ms, (life, event)) {
            panic!("the scenario overflows the event queue ({events_max} events)");
        }
    }

    /// (Re)starts a node's protocol state from its store and its timers.
    fn boot(&mut self, node: NodeId) {
        let actions = self.boot_certify(node);
        self.boot_gate(node);
        // Carried out only now: it may publish, and the order of a boot (its RNG draws
        // included) is part of what a seed replays.
        self.finish(node, actions, None);
        // Timers start at a random phase, as real nodes start at different moments.
        let heartbeat = self.gossip_config.heartbeat_interval_ms;
        let phase = self.engine.rng().gen_range(0..heartbeat.max(1));
        self.schedule(phase, Event::Heartbeat { node });
        let tick_phase = self.engine.rng().gen_range(0..self.certify_config.tick_ms);
        let now_ms = self.engine.now_ms();
        let sim = &mut self.nodes[node as usize];
        sim.tick_grid_ms = now_ms + tick_phase;
        sim.tick_at_ms = None;
        self.plan_tick(node);
        self.boot_ballots(node);
        self.start_misbehaving(node);
        self.start_probes(node);
        self.boot_sync(node);
    }

    fn node_clock_ms(&self, node: NodeId) -> u64 {
        let now = (EPOCH_UNIX_MS + self.engine.now_ms()) as i64;
        (now + self.nodes[node as usize].skew_ms).max(0) as u64
    }

    /// See [`World::run_with_progress`].
    pub fn run_with_progress(mut self, progress: &mut dyn FnMut(u64, u64)) -> Report {
        for index in 0..self.scenario.proposals.len() {
            let at = self.scenario.proposals[index].at_ms;
            self.schedule(at, Event::Propose { index });
        }
        for index in 0..self.scenario.faults.len() {
            let at = self.scenario.faults[index].at_ms();
            self.schedule(at, Event::Fault { index });
        }
        for index in 0..self.scenario.ballots.len() {
            let at = self.scenario.ballots[index].at_ms;
            self.schedule(at, Event::OpenBallot { index });
        }
        for index in 0..self.scenario.revocations.len() {
            let at = self.scenario.revocations[index].at_ms;
            self.schedule(at, Event::Revoke { index });
        }
        let end_ms = self.scenario.duration_ms;
        let mut reported_s = 0;
        while let Some((now_ms, (life, event))) = self.engine.next_event() {
            if now_ms > end_ms {
                break;
            }
            if now_ms / 1000 > reported_s {
                reported_s = now_ms / 1000;
                progress(now_ms, end_ms);
            }
            self.stats.events += 1;
            self.handle(now_ms, life, event);
        }
        progress(end_ms, end_ms);
        let nodes: Vec<crate::report::NodeEnd> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, sim)| crate::report::NodeEnd {
                node: i as NodeId,
                up: sim.up,
                honest: sim.byzantine.is_empty(),
                certificates: sim
                    .certify
                    .as_ref()
                    .map(|c| c.certificates().cloned().collect())
                    .unwrap_or_default(),
                halted: sim
                    .certify
                    .as_ref()
                    .map(|c| c.summary().halted)
                    .unwrap_or_default(),
                gossip: sim.gossip.counters,
                certify_state_peak: sim.certify_state_peak,
            })
            .collect();
        let digest: [u8; 32] = self.trace.finalize().into();
        let committee = self.committee.clone();
        let keys = &self.keys;
        let class_of = |slot: &str| committee.class_of(slot);
        // Each distinct certificate is checked once, however many nodes hold it.
        let checked: std::cell::RefCell<BTreeMap<(ProposalId, Vec<u8>), bool>> = Default::default();
        let verifies = |certificate: &CertificateMessage| {
            let id = certificate.proposal.id();
            let key = (id, certificate.signature.to_vec());
            if let Some(valid) = checked.borrow().get(&key) {
                return *valid;
            }
            let class = committee.class_of(&certificate.proposal.slot);
            let class_keys = match class {
                ChangeClass::Standard => &keys.0,
                ChangeClass::Supermajority => &keys.1,
            };
            let valid = S::verifies_strictly(
                class_keys,
                committee.scheme(class),
                &signing_message(&id),
                &certificate.signature,
            );
            checked.borrow_mut().insert(key, valid);
            valid
        };
        crate::report::build(
            &self.scenario,
            self.seed,
            &crate::report::CommitteeCheck {
                size: committee.size(),
                class_of: &class_of,
                verifies: &verifies,
            },
            self.stats,
            nodes,
            digest,
        )
    }

    fn trace(&mut self, line: std::fmt::Arguments<'_>) {
        let text = format!("{} {line}\n", self.engine.now_ms());
        self.trace.update(text.as_bytes());
    }

    fn handle(&mut self, now_ms: u64, life: u32, event: Event) {
        match event {
            Event::Rpc { to, from, rpc } => self.deliver(to, from, rpc),
            Event::Heartbeat { node } => {
                if !self.timer_alive(node, life) {
                    return;
                }
                let mut out = Vec::new();
                let sim = &mut self.nodes[node as usize];
                sim.gossip.heartbeat(now_ms, self.engine.rng(), &mut out);
                self.send_all(node, out);
                let interval = self.gossip_config.heartbeat_interval_ms;
                self.schedule(interval, Event::Heartbeat { node });
            }
            Event::Tick { node } => {
                if self.timer_alive(node, life) {
                    self.certify_tick(node, now_ms);
                }
            }
            Event::Probe { node } => {
                if self.timer_alive(node, life) {
                    self.publish_probe(node);
                }
            }
            Event::Misbehave { node } => {
                if self.timer_alive(node, life) {
                    self.misbehave(node, now_ms);
                }
            }
            Event::Propose { index } => self.propose(index, now_ms),
            Event::Fault { index } => self.fault(index, now_ms),
            Event::HubPoll { node } => {
                if self.timer_alive(node, life) {
                    self.hub_poll(node, now_ms);
                }
            }
            Event::BallotTick { node } => {
                if self.timer_alive(node, life)
                    && self.nodes[node as usize].ballot_tick_at_ms == Some(now_ms)
                {
                    self.nodes[node as usize].ballot_tick_at_ms = None;
                    self.ballot_tick(node);
                }
            }
            Event::OpenBallot { index } => self.open_ballot(index, now_ms),
            Event::Revoke { index } => self.revoke(index, now_ms),
            Event::Vote { node, ballot } => {
                if self.timer_alive(node, life) {
                    self.vote(node, ballot);
                }
            }
            Event::Rejoin { node } => self.rejoin(node, now_ms),
            Event::SyncTick { node } => {
                if self.timer_alive(node, life) {
                    self.sync_tick(node, now_ms);
                }
            }
            Event::Sync { to, from, frame } => self.deliver_sync(to, from, frame),
            Event::Finish { node, work } => {
                // A node that crashed meanwhile never finished the work.
                if !self.timer_alive(node, life) {
                    return;
                }
                let carried = self.carry_out(node, work.actions);
                if let Some((origin, verdict)) = work.verdict {
                    self.report(node, origin, after_carrying_out(&carried, verdict));
                }
            }
        }
    }

    fn timer_alive(&self, node: NodeId, life: u32) -> bool {
        let sim = &self.nodes[node as usize];
        sim.up && sim.life == life
    }

    /// The application's validation of a new message at `node`: the real cores decide,
    /// privileged messages after the node's gate.
    fn validate(&mut self, node: NodeId, item: ToValidate) {
        let ToValidate {
            message,
            from: item_from,
        } = item;
        let now_ms = self.engine.now_ms();
        let clock = self.node_clock_ms(node);
        self.stats.record_receipt(&message, node, now_ms);
        let privileged = is_privileged(message.topic);
        if privileged && !self.nodes[node as usize].byzantine.is_empty() {
            self.misbehave_on_privileged(node, &message, now_ms);
        }
        self.record_for_replay(node, &message);
        // How far a flood got before graylisting and pruning cut it off.
        if self.nodes[message.id.author as usize]
            .byzantine
            .contains(&Behaviour::Flood)
            && self.nodes[node as usize].byzantine.is_empty()
        {
            self.stats.flood_validated += 1;
        }
        let origin = Origin::Gossip(message.id);
        if withholds(&self.nodes[node as usize].byzantine) {
            self.report(node, origin, WITHHELD);
            return;
        }
        if message.topic == topics::PROBE {
            let verdict = match self.validate_probe(node, &message, clock, now_ms) {
                Acceptance::Accept => Verdict::Accept,
                Acceptance::Ignore => Verdict::Ignore { reason: "probe" },
                Acceptance::Reject => Verdict::Reject { reason: "probe" },
            };
            self.report(node, origin, verdict);
            return;
        }
        if message.topic == topics::BALLOTS {
            self.validate_ballot(node, &message, origin, clock, Some(item_from));
            return;
        }
        if message.topic == topics::REVOCATIONS {
            let verdict = self.take_revocations(node, &message.data, clock);
            self.report(node, origin, verdict);
            return;
        }
        let author = peer_key(message.id.author);
        self.validate_certify(node, &message, origin, &author, privileged, clock);
    }

    /// Hands `node`'s verdict on a message back the way it came: to its gossip model,
    /// which forwards what was accepted and penalises the peer that sent what was
    /// rejected, or to its sync core. What the node accepted it also serves to sync
    /// peers, as the node's network actor hands every accepted message to its sync actor.
    fn report(&mut self, node: NodeId, origin: Origin, verdict: Verdict) {
        let id = match origin {
            Origin::Gossip(id) => id,
            Origin::Sync(delivery) => {
                self.sync_verdict(node, delivery, verdict);
                return;
            }
        };
        let acceptance = acceptance_of(verdict);
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        let accepted = self.nodes[node as usize]
            .gossip
            .report_validation(id, acceptance, now_ms, &mut out);
        self.send_all(node, out);
        if let Some(message) = accepted {
            self.sync_hold(node, message.topic, &message.data);
        }
    }
}

/// What a Byzantine node that withholds says of everything it receives.
const WITHHELD: Verdict = Verdict::Ignore { reason: "withheld" };

/// The verdict once the core's actions were carried out: a received certificate the
/// store could not keep is not accepted ([`Carried::verdict`]), whatever the core said.
fn after_carrying_out(carried: &Carried, verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Accept => carried.verdict(Verdict::Accept),
        refused => refused,
    }
}

fn acceptance_of(verdict: Verdict) -> Acceptance {
    match verdict {
        Verdict::Accept => Acceptance::Accept,
        Verdict::Reject { .. } => Acceptance::Reject,
        Verdict::Ignore { .. } => Acceptance::Ignore,
    }
}

/// A node's index from its simulated PeerKey (for reports).
pub fn node_index(key: &PeerKey) -> Option<NodeId> {
    node_of(key)
}
