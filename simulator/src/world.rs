//! The simulated world: nodes (a gossip model, the node's real admission `Gate`,
//! `CertifyNode` and `ProbeCore`, a persisted store), links (latency, loss, partitions),
//! faults and Byzantine members, driven by the engine. One thread, one RNG, virtual time
//! only.
//!
//! Capability tokens, as the node's auth actor handles them: the network authority's key
//! pair is drawn from the run's RNG and mints every node's credential at the start (a
//! committee member may propose, update the Charter, sign and vote; any other node may
//! vote; an `exceed_rights` member only votes; a `forge_tokens` node mints its own with a
//! key pair of its own). A node seals each proposal and share it publishes in an
//! [`Envelope`] with its access token (derived from the credential when first needed and
//! again at half its life), a nonce from the run's RNG and its own clock, skew included.
//! Every privileged message a node receives passes its `Gate` (the author of the gossip
//! message is the source the token must name) before the certify core sees the payload;
//! a refusal is the gossip verdict Reject, which the gossip model turns into the P4
//! penalty of the peer that sent it, and is counted by reason. An admitted nonce goes to
//! the node's store before the payload moves on, and a restarted node's gate starts from
//! the nonces it stored. At the end, the report checks that no honest node admitted a
//! privileged message of a token forger, replayer or member beyond its rights, nor one
//! message twice.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use sha2::{Digest, Sha256};
use x0_core::auth::envelope::Envelope;
use x0_core::auth::gate::{is_privileged, Gate, GateConfig};
use x0_core::auth::replay::Nonce;
use x0_core::auth::token::{
    Grant, Operation, Right, VerifierConfig, ACCESS_TTL_S_DEFAULT, CREDENTIAL_TTL_S_DEFAULT,
};
use x0_core::ballot::book::{BallotBook, BallotConfig};
use x0_core::ballot::wire::{Attestation, BallotId};
use x0_core::certify::collector::{CollectorConfig, SlotKey};
use x0_core::certify::committee::Committee;
use x0_core::certify::effects::{
    carry_out, CertifyEffects, JournalError, MemoryJournal, Observation, Publication,
};
use x0_core::certify::node::{
    Action, CertifyConfig, CertifyNode, CertifySetup, Evidence, HeldShare, InboundVerdict,
};
use x0_core::certify::proposal::{Proposal, ProposalId};
use x0_core::certify::scheme::{signing_message, Bls, MemberIndex};
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::{CertificateMessage, ShareMessage};
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
use crate::scenario::{Behaviour, Direction, Fault, Latency, NodeRange, Scenario};
use crate::seen::SeenTable;
use crate::tokens::SimTokens;

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
    /// A member votes on a ballot it has seen (as its behaviour says).
    Vote {
        node: NodeId,
        ballot: BallotId,
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
    /// The gossip verdict on the message the call validated, if it decided one.
    verdict: Option<(MessageId, Acceptance)>,
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
}

/// A nonce list shorter than this is not pruned.
const NONCES_PRUNE_MIN: usize = 1_024;

impl Store {
    /// Persists an admitted nonce, as the auth actor does before passing a message on.
    fn record_nonce(&mut self, nonce: Nonce, timestamp_unix_ms: u64, clock_ms: u64, skew_ms: u64) {
        if self.nonces.len() >= self.nonces_prune_at.max(NONCES_PRUNE_MIN) {
            // The journal's `forget_nonces`: a nonce leaves with its message's window.
            self.nonces
                .retain(|(_, ts)| ts.saturating_add(skew_ms) >= clock_ms);
            self.nonces_prune_at = 2 * self.nonces.len();
        }
        self.nonces.push((nonce, timestamp_unix_ms));
    }
}

type Authority<S> = <<S as SimSuite>::Tokens as SimTokens>::Authority;
type Verifier<S> = <<S as SimSuite>::Tokens as SimTokens>::Verifier;

struct SimNode<S: SimSuite> {
    gossip: GossipNode,
    /// The admission gate of privileged topics; `None` while crashed.
    gate: Option<Gate<Verifier<S>, KnownTopics>>,
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
    held: BTreeMap<HeldShare, MessageId>,
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
}

/// Nodes that never sign nor forward: withholders, and Sybils.
fn withholds(byzantine: &BTreeSet<Behaviour>) -> bool {
    byzantine.contains(&Behaviour::Withhold) || byzantine.contains(&Behaviour::Eclipse)
}

/// Messages a replaying Byzantine node keeps, and how often Byzantine timers fire.
const REPLAY_MAX: usize = 64;
const MISBEHAVE_INTERVAL_MS: u64 = 500;
/// Garbage messages a flooding node publishes per timer.
const FLOOD_BURST: usize = 20;

struct LossRule {
    until_ms: u64,
    nodes: NodeRange,
    rate: f64,
    direction: Direction,
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
            collector: CollectorConfig::default(),
            tick_ms: 50,
            held_verdicts_max: 4_096,
            proposal_future_skew_ms_max: 30_000,
            proposal_age_ms_max: 120_000,
            retry_queue_max: 256,
            republish_interval_ms: 60_000,
            republish_window_ms: 3_600_000,
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
        // Topology: every node dials `connections_per_node` distinct random others.
        let mut links: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); n as usize];
        let mut dialled: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); n as usize];
        for node in 0..n {
            let mut others: Vec<NodeId> = (0..n).filter(|o| *o != node).collect();
            others.shuffle(engine.rng());
            for other in others
                .into_iter()
                .take(scenario.topology.connections_per_node as usize)
            {
                links[node as usize].insert(other);
                links[other as usize].insert(node);
                dialled[node as usize].insert(other);
            }
        }
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
            topics: if scenario.has_ballots() {
                TOPICS.iter().copied().chain([topics::BALLOTS]).collect()
            } else {
                TOPICS.to_vec()
            },
            ballot_keys: scenario.has_ballots().then(|| KeyTable::new(seed, n)),
            ballot_config: BallotConfig::default(),
            members: {
                let mut members: Vec<PeerKey> = (0..m as u32).map(peer_key).collect();
                members.sort();
                members
            },
            ballot_ids: BTreeMap::new(),
            ballot_verified: BTreeMap::new(),
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
                life: 0,
                recorded: VecDeque::new(),
                last_proposal: None,
                captured: VecDeque::new(),
                reinject: VecDeque::new(),
                ballot: None,
                ballot_tick_at_ms: None,
                heard_attestations: BTreeMap::new(),
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

    /// A connection from `dialler` to `listener` is up: each side sends its
    /// subscriptions, and meshes form as they arrive, as in libp2p.
    fn open_connection(&mut self, dialler: NodeId, listener: NodeId) {
        let mut out = Vec::new();
        self.nodes[dialler as usize]
            .gossip
            .connected(listener, true, &mut out);
        self.send_all(dialler, out);
        let mut out = Vec::new();
        self.nodes[listener as usize]
            .gossip
            .connected(dialler, false, &mut out);
        self.send_all(listener, out);
        for (replayer, peer) in [(dialler, listener), (listener, dialler)] {
            self.hand_over_captured(replayer, peer);
        }
    }

    /// The member credential of `node`, by its role: a committee member may propose,
    /// update the Charter, sign and vote, any other node may vote; a member beyond its
    /// rights holds a vote-only credential; a forger mints one with every right using its
    /// own key pair.
    fn credential(&self, node: NodeId, byzantine: &BTreeSet<Behaviour>) -> Vec<u8> {
        let member = node < self.committee.size() as u32;
        let operations: &[Operation] = if byzantine.contains(&Behaviour::ForgeTokens) {
            &Operation::ALL
        } else if byzantine.contains(&Behaviour::ExceedRights) || !member {
            &[Operation::Vote]
        } else {
            &Operation::ALL
        };
        let grant = Grant {
            member: peer_key(node),
            rights: operations
                .iter()
                .copied()
                .flat_map(Right::for_operation)
                .collect(),
            expires_unix_s: CREDENTIALS_EXPIRE_UNIX_S,
        };
        let issuer = self.forgers.get(&node).unwrap_or(&self.authority);
        <S::Tokens as SimTokens>::mint(issuer, &grant)
    }

    /// `payload` in an envelope, as the auth actor seals what `node` publishes on a
    /// privileged topic: its access token (derived from its credential when it has none
    /// or half its life has passed), a nonce from the run's RNG, and its clock.
    fn seal(&mut self, node: NodeId, payload: &[u8]) -> Vec<u8> {
        let clock_ms = self.node_clock_ms(node);
        let now_s = clock_ms / 1000;
        let sim = &self.nodes[node as usize];
        let due = sim
            .access
            .as_ref()
            .is_none_or(|(_, until_s)| now_s + ACCESS_TTL_S_DEFAULT / 2 >= *until_s);
        if due {
            let issuer = self.forgers.get(&node).unwrap_or(&self.authority);
            let token = <S::Tokens as SimTokens>::derive_access(
                issuer,
                &sim.credential,
                now_s,
                ACCESS_TTL_S_DEFAULT,
            );
            let until_s = (now_s + ACCESS_TTL_S_DEFAULT).min(CREDENTIALS_EXPIRE_UNIX_S);
            self.nodes[node as usize].access = Some((token, until_s));
        }
        let nonce: Nonce = self.engine.rng().gen();
        let (token, _) = self.nodes[node as usize]
            .access
            .as_ref()
            .expect("derived above");
        Envelope {
            token,
            nonce,
            timestamp_unix_ms: clock_ms,
            payload,
        }
        .encode()
    }

    /// Publishes a proposal or share of `node`'s in its envelope.
    fn publish_sealed(&mut self, node: NodeId, topic: &'static str, payload: &[u8]) {
        let data = self.seal(node, payload);
        self.publish(node, topic, data);
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
            | Event::Finish { node, .. } => self.nodes[*node as usize].life,
            _ => 0,
        };
        if let Err(QueueFull { events_max }) = self.engine.schedule(delay_ms, (life, event)) {
            panic!("the scenario overflows the event queue ({events_max} events)");
        }
    }

    /// (Re)starts a node's protocol state from its store and its timers.
    fn boot(&mut self, node: NodeId) {
        let m = self.committee.size() as u32;
        let shares = (node < m).then(|| {
            (
                S::signer(&self.keys.0, node as MemberIndex),
                S::signer(&self.keys.1, node as MemberIndex),
            )
        });
        let sim = &self.nodes[node as usize];
        let certificates = sim
            .store
            .journal
            .certificates
            .values()
            .filter_map(|bytes| CertificateMessage::decode(bytes).ok())
            .collect();
        let setup = CertifySetup {
            committee: self.committee.clone(),
            own_key: peer_key(node),
            shares,
            signed: sim.store.journal.signed.clone(),
            certificates,
        };
        let mut actions = Vec::new();
        let certify = CertifyNode::new(setup, self.certify_config, &mut actions);
        self.nodes[node as usize].certify = Some(certify);
        // The gate starts from the nonces the node persisted, as the auth actor does.
        let clock_ms = self.node_clock_ms(node);
        let verifier = <S::Tokens as SimTokens>::verifier(
            &self.authority,
            self.verifier_config,
            self.weakness,
        );
        let mut gate = Gate::new(verifier, self.gate_config, KnownTopics, clock_ms);
        let sim = &mut self.nodes[node as usize];
        if self.weakness != Weakness::NoncesForgotten {
            let skipped = gate.restore(
                sim.store.nonces.iter().copied(),
                std::iter::empty(),
                clock_ms,
            );
            self.stats.nonces_not_restored += skipped as u64;
        }
        sim.gate = Some(gate);
        sim.access = None;
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
        let byzantine = &self.nodes[node as usize].byzantine;
        let on_timer = [
            Behaviour::SpamOpens,
            Behaviour::Replay,
            Behaviour::Flood,
            Behaviour::Eclipse,
            Behaviour::ForgeTokens,
            Behaviour::ReplayPrivileged,
        ];
        if on_timer.iter().any(|b| byzantine.contains(b)) {
            let phase = self.engine.rng().gen_range(0..MISBEHAVE_INTERVAL_MS);
            self.schedule(phase, Event::Misbehave { node });
        }
        let probe = self.scenario.traffic.probe_interval_ms;
        if probe > 0 && self.scenario.probes_from(node) {
            let probe_phase = self.engine.rng().gen_range(0..probe);
            self.schedule(probe_phase, Event::Probe { node });
        }
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
                if !self.timer_alive(node, life)
                    || self.nodes[node as usize].tick_at_ms != Some(now_ms)
                {
                    return;
                }
                self.nodes[node as usize].tick_at_ms = None;
                let clock = self.node_clock_ms(node);
                let mut actions = Vec::new();
                if let Some(certify) = self.nodes[node as usize].certify.as_mut() {
                    certify.tick(clock, &mut actions);
                }
                self.finish(node, actions, None);
            }
            Event::Probe { node } => {
                if !self.timer_alive(node, life) {
                    return;
                }
                let clock = self.node_clock_ms(node);
                let data = self.nodes[node as usize].probe.next_probe(clock);
                self.publish(node, topics::PROBE, data);
                self.schedule(
                    self.scenario.traffic.probe_interval_ms,
                    Event::Probe { node },
                );
            }
            Event::Misbehave { node } => {
                if !self.timer_alive(node, life) {
                    return;
                }
                let behaviours = self.nodes[node as usize].byzantine.clone();
                if behaviours.contains(&Behaviour::Replay) {
                    let recorded = &self.nodes[node as usize].recorded;
                    if !recorded.is_empty() {
                        let pick = self.engine.rng().gen_range(0..recorded.len());
                        let (topic, data) = self.nodes[node as usize].recorded[pick].clone();
                        self.stats.replays_published += 1;
                        self.publish(node, topic, data);
                    }
                }
                if behaviours.contains(&Behaviour::Flood) {
                    for _ in 0..FLOOD_BURST {
                        let length = self.engine.rng().gen_range(1..200);
                        let garbage: Vec<u8> =
                            (0..length).map(|_| self.engine.rng().gen()).collect();
                        self.stats.flood_published += 1;
                        self.publish(node, topics::SHARES, garbage);
                    }
                }
                if let Some(target) = self.nodes[node as usize].eclipse_target {
                    self.eclipse(node, target);
                }
                if behaviours.contains(&Behaviour::ForgeTokens) {
                    self.publish_beyond_rights(node);
                }
                if behaviours.contains(&Behaviour::ReplayPrivileged) {
                    self.replay_privileged(node, now_ms);
                }
                if behaviours.contains(&Behaviour::SpamOpens) {
                    self.spam_open(node);
                }
                self.schedule(MISBEHAVE_INTERVAL_MS, Event::Misbehave { node });
            }
            Event::Propose { index } => {
                let spec = self.scenario.proposals[index].clone();
                let node = spec.proposer;
                if !self.nodes[node as usize].up {
                    self.trace(format_args!("propose {index} skipped: node {node} down"));
                    return;
                }
                let clock = self.node_clock_ms(node);
                let nonce: [u8; 16] = self.engine.rng().gen();
                let mut actions = Vec::new();
                let certify = self.nodes[node as usize]
                    .certify
                    .as_mut()
                    .expect("an up node has its certify node");
                let result = certify.propose(
                    spec.slot.clone(),
                    spec.payload.clone().into_bytes(),
                    100_000,
                    nonce,
                    clock,
                    &mut actions,
                );
                match result {
                    Ok(id) => {
                        let honest = self.nodes[node as usize].byzantine.is_empty();
                        self.stats.proposals.push((id, now_ms, honest));
                        self.trace(format_args!(
                            "propose {index} by {node}: {}",
                            hex::encode(&id.0)
                        ));
                    }
                    Err(error) => {
                        self.trace(format_args!("propose {index} by {node} refused: {error}"))
                    }
                }
                self.finish(node, actions, None);
            }
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
            Event::Vote { node, ballot } => {
                if self.timer_alive(node, life) {
                    self.vote(node, ballot);
                }
            }
            Event::Rejoin { node } => {
                self.trace(format_args!("churn {node} rejoins"));
                self.restart(node);
                self.stats.heals_ms.push(now_ms);
            }
            Event::Finish { node, work } => {
                // A node that crashed meanwhile never finished the work.
                if !self.timer_alive(node, life) {
                    return;
                }
                self.carry_out(node, work.actions);
                if let Some((id, acceptance)) = work.verdict {
                    self.report(node, id, acceptance);
                }
            }
        }
    }

    /// Plans `node`'s next tick at the first point of its tick grid, after now, where its
    /// core has work; keeps an earlier tick already planned.
    fn plan_tick(&mut self, node: NodeId) {
        let now_ms = self.engine.now_ms();
        let sim = &self.nodes[node as usize];
        let Some(due_clock_ms) = sim.certify.as_ref().and_then(|c| c.next_tick_ms()) else {
            return;
        };
        let clock_offset_ms = EPOCH_UNIX_MS as i64 + sim.skew_ms;
        let due_ms = (due_clock_ms as i64 - clock_offset_ms).max(0) as u64;
        let earliest_ms = due_ms.max(now_ms + 1);
        let (grid, interval) = (sim.tick_grid_ms, self.certify_config.tick_ms);
        let at_ms = if earliest_ms <= grid {
            grid
        } else {
            grid + (earliest_ms - grid).div_ceil(interval) * interval
        };
        if sim.tick_at_ms.is_some_and(|t| t >= now_ms && t <= at_ms) {
            return;
        }
        self.nodes[node as usize].tick_at_ms = Some(at_ms);
        self.schedule(at_ms - now_ms, Event::Tick { node });
    }

    fn timer_alive(&self, node: NodeId, life: u32) -> bool {
        let sim = &self.nodes[node as usize];
        sim.up && sim.life == life
    }

    fn fault(&mut self, index: usize, now_ms: u64) {
        let fault = self.scenario.faults[index].clone();
        self.trace(format_args!("fault {index}: {fault:?}"));
        match fault {
            Fault::Partition {
                groups,
                direction,
                bridges,
                ..
            } => self.partitions = Some((groups, direction, bridges)),
            // Polls read the outage from the scenario when they happen.
            Fault::HubDown { .. } => {}
            Fault::Heal { .. } => {
                self.partitions = None;
                self.stats.heals_ms.push(now_ms);
            }
            Fault::Crash { nodes, .. } => {
                for node in nodes.iter() {
                    self.crash(node);
                }
            }
            Fault::Restart { nodes, .. } => {
                for node in nodes.iter() {
                    self.restart(node);
                }
                self.stats.heals_ms.push(now_ms);
            }
            Fault::Churn { .. } => self.churn(index),
            Fault::Loss {
                until_ms,
                nodes,
                rate,
                direction,
                ..
            } => self.losses.push(LossRule {
                until_ms,
                nodes,
                rate,
                direction,
            }),
            Fault::ClockSkew { nodes, skew_ms, .. } => {
                for node in nodes.iter() {
                    self.nodes[node as usize].skew_ms = skew_ms;
                    // Its timers fall due at other virtual times now.
                    if self.nodes[node as usize].up {
                        self.nodes[node as usize].tick_at_ms = None;
                        self.plan_tick(node);
                        self.nodes[node as usize].ballot_tick_at_ms = None;
                        self.plan_ballot_tick(node);
                    }
                }
            }
        }
    }

    /// The node stops: connections close, memory is lost, the store stays.
    fn crash(&mut self, node: NodeId) {
        let sim = &mut self.nodes[node as usize];
        if !sim.up {
            return;
        }
        sim.up = false;
        sim.certify = None;
        sim.gate = None;
        sim.access = None;
        sim.held.clear();
        sim.last_proposal = None;
        sim.captured.clear();
        sim.reinject.clear();
        sim.ballot = None;
        sim.ballot_tick_at_ms = None;
        sim.heard_attestations.clear();
        // Peers see the connections close.
        for peer in self.links[node as usize].clone() {
            self.nodes[peer as usize].gossip.disconnect(node);
        }
    }

    /// A crashed node starts again from its store and redials its links.
    fn restart(&mut self, node: NodeId) {
        if self.nodes[node as usize].up {
            return;
        }
        // Gossip state is memory: a restarted node starts with none of it (the old one
        // empties its seen-cache column as it goes), but its message ids go on from
        // where they were, as upstream's time-based sequence numbers do.
        let mut gossip = self.gossip_node(node);
        gossip.resume_sequence(self.nodes[node as usize].gossip.sequence_next());
        let sim = &mut self.nodes[node as usize];
        sim.up = true;
        sim.life += 1;
        sim.gossip = gossip;
        self.boot(node);
        for peer in self.links[node as usize].clone() {
            if !self.nodes[peer as usize].up {
                continue;
            }
            if self.dialled[node as usize].contains(&peer) {
                self.open_connection(node, peer);
            } else {
                self.open_connection(peer, node);
            }
        }
    }

    /// One step of a churn fault: a random up node of the range leaves, to come back
    /// `down_ms` later; the next step follows `interval_ms` later, until `until_ms`.
    fn churn(&mut self, index: usize) {
        let Fault::Churn {
            until_ms,
            nodes,
            interval_ms,
            down_ms,
            ..
        } = self.scenario.faults[index].clone()
        else {
            unreachable!("churn events come from churn faults");
        };
        let now_ms = self.engine.now_ms();
        if now_ms >= until_ms {
            return;
        }
        let up: Vec<NodeId> = nodes
            .iter()
            .filter(|n| self.nodes[*n as usize].up)
            .collect();
        if let Some(node) = up.choose(self.engine.rng()).copied() {
            self.trace(format_args!("churn {node} leaves"));
            self.crash(node);
            self.schedule(down_ms, Event::Rejoin { node });
        }
        self.schedule(interval_ms, Event::Fault { index });
    }

    /// One step of a Sybil's eclipse attempt: dial the target if not connected (refused
    /// when the target is at `connections_max`), then GRAFT it on every topic.
    fn eclipse(&mut self, sybil: NodeId, target: NodeId) {
        if !self.nodes[target as usize].up {
            return;
        }
        if !self.nodes[target as usize].gossip.peers().contains(&sybil) {
            let connections = self.nodes[target as usize].gossip.peers().len();
            if connections >= self.scenario.topology.connections_max as usize {
                self.stats.eclipse_dials_refused += 1;
                return;
            }
            self.links[sybil as usize].insert(target);
            self.links[target as usize].insert(sybil);
            self.dialled[sybil as usize].insert(target);
            self.stats.eclipse_connections += 1;
            self.open_connection(sybil, target);
        }
        for topic in self.topics.clone() {
            self.send(sybil, target, Rpc::Graft { topic });
        }
    }

    fn publish(&mut self, node: NodeId, topic: &'static str, data: Vec<u8>) {
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        let message = self.nodes[node as usize]
            .gossip
            .publish(topic, data, now_ms, &mut out);
        if topic == topics::PROBE {
            self.stats.probes_published += 1;
            if self.quiet() {
                self.quiet_probes.insert(message.id);
            }
        }
        self.trace(format_args!(
            "publish {node} {topic} {}:{}",
            message.id.author, message.id.sequence
        ));
        self.send_all(node, out);
    }

    fn send_all(&mut self, from: NodeId, out: Vec<(NodeId, Rpc)>) {
        for (to, rpc) in out {
            self.send(from, to, rpc);
        }
    }

    /// Puts an RPC on the link: lost, cut by a partition, or delayed by the link latency.
    fn send(&mut self, from: NodeId, to: NodeId, rpc: Rpc) {
        if let Rpc::Message(_) = rpc {
            self.stats.messages_sent += 1;
        }
        if self.blocked(from, to) {
            return;
        }
        let now = self.engine.now_ms();
        let mut loss = self.scenario.network.loss;
        for rule in &self.losses {
            if rule.until_ms <= now {
                continue;
            }
            let hit = rule.nodes.contains(from)
                || (rule.direction == Direction::TwoWay && rule.nodes.contains(to));
            if hit {
                loss = 1.0 - (1.0 - loss) * (1.0 - rule.rate);
            }
        }
        if loss > 0.0 && self.engine.rng().gen_bool(loss.min(1.0)) {
            self.stats.messages_lost += 1;
            return;
        }
        let delay = self.latency_ms();
        self.schedule(delay, Event::Rpc { to, from, rpc });
    }

    /// No partition, no loss and no crashed node in force: a fault-free or delay-only
    /// phase, whose latencies `quiet_delivery_p99_ms_max` bounds.
    fn quiet(&self) -> bool {
        let now_ms = self.engine.now_ms();
        self.partitions.is_none()
            && self.scenario.network.loss == 0.0
            && self.losses.iter().all(|rule| rule.until_ms <= now_ms)
            && self.nodes.iter().all(|sim| sim.up)
    }

    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        let Some((groups, direction, bridges)) = &self.partitions else {
            return false;
        };
        if bridges.iter().any(|b| b.contains(from) || b.contains(to)) {
            return false;
        }
        let group_of = |node: NodeId| groups.iter().position(|g| g.contains(node));
        match (group_of(from), group_of(to)) {
            (Some(a), Some(b)) if a == b => false,
            (Some(a), Some(b)) => *direction == Direction::TwoWay || a < b,
            _ => true,
        }
    }

    fn latency_ms(&mut self) -> u64 {
        match self.scenario.network.latency {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => self.engine.rng().gen_range(min_ms..=max_ms),
            Latency::LogNormal { median_ms, sigma } => {
                let distribution =
                    LogNormal::new((median_ms.max(1) as f64).ln(), sigma).expect("validated sigma");
                distribution
                    .sample(self.engine.rng())
                    .round()
                    .min(600_000.0) as u64
            }
        }
    }

    fn deliver(&mut self, to: NodeId, from: NodeId, rpc: Rpc) {
        if !self.nodes[to as usize].up {
            return;
        }
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        let mut validate = Vec::new();
        // A Sybil's GRAFT that its target takes into a mesh: the attack's progress.
        let sybil_graft = match &rpc {
            Rpc::Graft { topic } if self.nodes[from as usize].eclipse_target == Some(to) => {
                let mesh = self.nodes[to as usize].gossip.mesh(topic);
                mesh.is_some_and(|m| !m.contains(&from)).then_some(*topic)
            }
            _ => None,
        };
        self.nodes[to as usize]
            .gossip
            .on_rpc(from, rpc, now_ms, &mut out, &mut validate);
        if let Some(topic) = sybil_graft {
            let mesh = self.nodes[to as usize].gossip.mesh(topic);
            if mesh.is_some_and(|m| m.contains(&from)) {
                self.stats.eclipse_grafts_accepted += 1;
            }
        }
        self.send_all(to, out);
        for item in validate {
            self.validate(to, item);
        }
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
        let sim = &mut self.nodes[node as usize];
        if sim.byzantine.contains(&Behaviour::Replay) && message.topic != topics::PROBE {
            if sim.recorded.len() >= REPLAY_MAX {
                sim.recorded.pop_front();
            }
            sim.recorded
                .push_back((message.topic, message.data.clone()));
        }
        if self.nodes[message.id.author as usize]
            .byzantine
            .contains(&Behaviour::Flood)
            && self.nodes[node as usize].byzantine.is_empty()
        {
            self.stats.flood_validated += 1;
        }
        let sim = &mut self.nodes[node as usize];
        if withholds(&sim.byzantine) {
            self.report(node, message.id, Acceptance::Ignore);
            return;
        }
        let acceptance = if message.topic == topics::PROBE {
            match sim.probe.on_inbound(&message.data, clock) {
                Ok(_) => {
                    let latency_ms = now_ms.saturating_sub(message.published_at_ms);
                    self.stats.delivery.record(latency_ms);
                    if self.quiet_probes.contains(&message.id) {
                        self.stats.quiet_delivery.record(latency_ms);
                    }
                    if self.eclipse_targets.contains(&node) {
                        self.stats.eclipse_target_delivery.record(latency_ms);
                    }
                    Acceptance::Accept
                }
                Err(_) => Acceptance::Reject,
            }
        } else {
            let author = peer_key(message.id.author);
            if message.topic == topics::BALLOTS {
                self.validate_ballot(node, &message, &author, clock, item_from);
                return;
            }
            let payload: &[u8] = if privileged {
                let Some(payload) = self.admit(node, &message, &author, clock) else {
                    return;
                };
                // A member beyond its rights answers each proposal it admits with its own
                // (never one its gate refused: two of them would answer each other).
                if message.topic == topics::PROPOSALS
                    && self.nodes[node as usize]
                        .byzantine
                        .contains(&Behaviour::ExceedRights)
                {
                    self.publish_beyond_rights(node);
                }
                payload
            } else {
                &message.data
            };
            let sim = &mut self.nodes[node as usize];
            let mut actions = Vec::new();
            let certify = sim
                .certify
                .as_mut()
                .expect("an up node has its certify node");
            let verdict =
                certify.on_inbound(message.topic, Some(&author), payload, clock, &mut actions);
            let acceptance = match verdict {
                InboundVerdict::Now(verdict) => Some((message.id, acceptance_of(verdict))),
                InboundVerdict::Held(held) => {
                    sim.held.insert(held, message.id);
                    None
                }
            };
            self.finish(node, actions, acceptance);
            return;
        };
        self.report(node, message.id, acceptance);
    }

    /// The auth actor's inbound path: `message` passes `node`'s gate (its author is the
    /// source the token must name), the admitted nonce is persisted, and the payload goes
    /// on to the certify core. A refusal is reported to the gossip model as Reject at once
    /// (the gate spends no modelled CPU time), which penalises the peer that sent it.
    /// Honest nodes count admissions and refusals (by reason) for the report, and every
    /// admission that breaks an invariant.
    fn admit<'m>(
        &mut self,
        node: NodeId,
        message: &'m GossipMessage,
        author: &PeerKey,
        clock_ms: u64,
    ) -> Option<&'m [u8]> {
        let skew_ms = self.gate_config.skew_ms;
        let sim = &mut self.nodes[node as usize];
        let honest = sim.byzantine.is_empty();
        let gate = sim.gate.as_mut().expect("an up node has its gate");
        let admitted = match gate.admit(message.topic, author, &message.data, clock_ms) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                if honest {
                    *self
                        .stats
                        .auth_rejected
                        .entry(refusal.reason())
                        .or_insert(0) += 1;
                }
                self.report(node, message.id, Acceptance::Reject);
                return None;
            }
        };
        sim.store.record_nonce(
            admitted.nonce,
            admitted.timestamp_unix_ms,
            clock_ms,
            skew_ms,
        );
        if honest {
            self.stats.auth_admitted += 1;
            let author_behaviours = &self.nodes[message.id.author as usize].byzantine;
            if Behaviour::AGAINST_TOKENS
                .iter()
                .any(|b| author_behaviours.contains(b))
            {
                *self
                    .stats
                    .byzantine_privileged_admitted
                    .entry(node)
                    .or_insert(0) += 1;
            }
            let column = node as usize;
            if self.admissions.contains(column, &message.id) {
                *self
                    .stats
                    .privileged_replays_admitted
                    .entry(node)
                    .or_insert(0) += 1;
            } else if self.admissions.slots_used() < ADMISSIONS_TRACKED_MAX
                || self.admissions.is_tracked(&message.id)
            {
                self.admissions.insert(column, message.id);
            } else {
                self.stats.admissions_untracked += 1;
            }
        }
        Some(admitted.payload)
    }

    /// Carries out what a call into `node`'s certify core produced, once the node's CPU
    /// has done the crypto the call cost (modelled runs; real crypto costs no virtual
    /// time). Work queues behind earlier work, as in the actor, one message at a time.
    fn finish(
        &mut self,
        node: NodeId,
        actions: Vec<Action>,
        verdict: Option<(MessageId, Acceptance)>,
    ) {
        self.plan_tick(node);
        let spent_us = self.operations.take_us(&self.cost);
        let now_us = self.engine.now_ms() * 1_000;
        let sim = &mut self.nodes[node as usize];
        if spent_us == 0 && sim.cpu_free_us <= now_us {
            self.carry_out(node, actions);
            if let Some((id, acceptance)) = verdict {
                self.report(node, id, acceptance);
            }
            return;
        }
        sim.cpu_free_us = sim.cpu_free_us.max(now_us) + spent_us;
        self.cpu_busy_us += spent_us;
        let delay_ms = (sim.cpu_free_us - now_us).div_ceil(1_000);
        self.schedule(
            delay_ms,
            Event::Finish {
                node,
                work: Box::new(Finished { actions, verdict }),
            },
        );
    }

    fn report(&mut self, node: NodeId, id: MessageId, acceptance: Acceptance) {
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        self.nodes[node as usize]
            .gossip
            .report_validation(id, acceptance, now_ms, &mut out);
        self.send_all(node, out);
    }

    /// Carries out a certify node's actions through the interpreter the actor runs too
    /// (x0_core::certify::effects): persist, then publish.
    fn carry_out(&mut self, node: NodeId, actions: Vec<Action>) {
        let now_ms = self.engine.now_ms();
        let mut shell = CertifyShell {
            sim: self,
            node,
            now_ms,
        };
        carry_out(&mut shell, actions);
    }

    /// What a Byzantine node does on seeing a proposal or share, beyond what its core
    /// does (before its own gate: it reads every envelope).
    fn misbehave_on_privileged(&mut self, node: NodeId, message: &Rc<GossipMessage>, now_ms: u64) {
        let behaviours = &self.nodes[node as usize].byzantine;
        if behaviours.contains(&Behaviour::ReplayPrivileged)
            && self.nodes[message.id.author as usize].byzantine.is_empty()
        {
            let sim = &mut self.nodes[node as usize];
            if sim.captured.len() >= REPLAY_MAX {
                sim.captured.pop_front();
            }
            sim.captured.push_back(message.clone());
            if sim.reinject.len() < REPLAY_MAX {
                sim.reinject.push_back((now_ms, message.clone()));
            }
        }
        if message.topic == topics::PROPOSALS {
            if let Ok(envelope) = Envelope::decode(&message.data) {
                self.misbehave_on_proposal(node, envelope.payload);
            }
        }
    }

    /// What a Byzantine member does on seeing a proposal, beyond what its core does.
    fn misbehave_on_proposal(&mut self, node: NodeId, data: &[u8]) {
        let behaviours = self.nodes[node as usize].byzantine.clone();
        if behaviours.is_empty() {
            return;
        }
        let Ok(proposal) = Proposal::decode(data) else {
            return;
        };
        let class = self.committee.class_of(&proposal.slot);
        if behaviours.contains(&Behaviour::ForgeTokens) {
            self.nodes[node as usize].last_proposal = Some((proposal.id(), class));
        }
        if behaviours.contains(&Behaviour::Equivocate) {
            // Signs whatever it sees, whatever it signed before for the slot.
            let id = proposal.id();
            let share = ShareMessage {
                class,
                id,
                member: node as MemberIndex,
                share: self.sign_as(node, class, &signing_message(&id)),
            };
            self.trace(format_args!("equivocate {node} {}", hex::encode(&id.0)));
            self.publish_sealed(node, topics::SHARES, &share.encode());
        }
        if behaviours.contains(&Behaviour::ForgedCertificates) {
            let mut forged = proposal.clone();
            forged.payload = b"forged".to_vec();
            forged.proposer = peer_key(node).0;
            let id = forged.id();
            let t = x0_core::certify::threshold::faulty_max(self.committee.size());
            let certificate = CertificateMessage {
                proposal: forged,
                signers: (0..=t as MemberIndex).collect(),
                signature: self.sign_as(node, class, &signing_message(&id)),
            };
            self.trace(format_args!("forge {node} {}", hex::encode(&id.0)));
            self.publish(node, topics::CERTIFICATES, certificate.encode());
        }
    }

    /// The privileged messages of a forger (each timer) or a member beyond its rights
    /// (each proposal it admits): a proposal (beyond rights, also one on a `charter/`
    /// slot), and from a forger a share for the last proposal it saw (signed with its key
    /// share if it has one, else zeros, in the name of member `node % committee size`).
    /// Sealed with the node's token: the forger's own authority's, or the member's real
    /// vote-only one.
    fn publish_beyond_rights(&mut self, node: NodeId) {
        let behaviours = &self.nodes[node as usize].byzantine;
        let forger = behaviours.contains(&Behaviour::ForgeTokens);
        let mut slots = vec!["gossip/unauthorised"];
        if behaviours.contains(&Behaviour::ExceedRights) {
            slots.push("charter/unauthorised");
        }
        for slot in slots {
            let proposal = Proposal {
                epoch: self.committee.epoch,
                slot: slot.to_string(),
                payload: b"unauthorised".to_vec(),
                affected_ppm: 100_000,
                proposer: peer_key(node).0,
                nonce: self.engine.rng().gen(),
                timestamp_unix_ms: self.node_clock_ms(node),
            };
            let what = if forger {
                "forged_proposals"
            } else {
                "proposals_beyond_rights"
            };
            self.stats.count_attack(what, 1);
            self.publish_sealed(node, topics::PROPOSALS, &proposal.encode());
        }
        let last = self.nodes[node as usize].last_proposal;
        if let (true, Some((id, class))) = (forger, last) {
            let m = self.committee.size();
            let share = if (node as usize) < m {
                self.sign_as(node, class, &signing_message(&id))
            } else {
                [0; 96]
            };
            let message = ShareMessage {
                class,
                id,
                member: (node as usize % m) as MemberIndex,
                share,
            };
            self.stats.count_attack("forged_shares", 1);
            self.publish_sealed(node, topics::SHARES, &message.encode());
        }
    }

    /// One timer of a `replay_privileged` node: one captured message published again as
    /// its own (source is not the token's holder), and the original of every capture whose
    /// seen-cache entries have lapsed everywhere re-injected, unchanged, to all its peers.
    fn replay_privileged(&mut self, node: NodeId, now_ms: u64) {
        let captured = self.nodes[node as usize].captured.len();
        if captured > 0 {
            let pick = self.engine.rng().gen_range(0..captured);
            let message = self.nodes[node as usize].captured[pick].clone();
            self.stats.count_attack("replayed_as_own", 1);
            self.publish(node, message.topic, message.data.clone());
        }
        let lapsed_ms =
            self.gossip_config.duplicate_cache_time_ms + self.gossip_config.heartbeat_interval_ms;
        loop {
            let sim = &mut self.nodes[node as usize];
            match sim.reinject.front() {
                Some((at_ms, _)) if at_ms + lapsed_ms <= now_ms => {}
                _ => break,
            }
            let (_, message) = sim.reinject.pop_front().expect("front checked");
            let peers: Vec<NodeId> = sim.gossip.peers().iter().copied().collect();
            self.stats.count_attack("reinjected", 1);
            for peer in peers {
                self.send(node, peer, Rpc::Message(message.clone()));
            }
        }
    }

    /// `replay_privileged`: a peer that just connected (a node back from a crash starts
    /// with an empty seen cache) is handed every message the replayer captured, as
    /// gossip would hand it a message it has not seen.
    fn hand_over_captured(&mut self, replayer: NodeId, peer: NodeId) {
        let sim = &self.nodes[replayer as usize];
        if !sim.up || !sim.byzantine.contains(&Behaviour::ReplayPrivileged) {
            return;
        }
        let mut messages: Vec<Rc<GossipMessage>> = sim
            .captured
            .iter()
            .cloned()
            .chain(sim.reinject.iter().map(|(_, message)| message.clone()))
            .collect();
        messages.sort_by_key(|message| message.id);
        messages.dedup_by_key(|message| message.id);
        self.stats
            .count_attack("handed_to_new_peers", messages.len() as u64);
        for message in messages {
            self.send(replayer, peer, Rpc::Message(message));
        }
    }

    /// A member's share over `message` with its own key (all a Byzantine member has).
    fn sign_as(&self, node: NodeId, class: ChangeClass, message: &[u8]) -> [u8; 96] {
        let keys = match class {
            ChangeClass::Standard => &self.keys.0,
            ChangeClass::Supermajority => &self.keys.1,
        };
        S::sign(keys, node as MemberIndex, message)
    }

    /// A Byzantine member's share: its real key share over the wrong message.
    fn forged_share(&self, node: NodeId, encoded: &[u8]) -> Vec<u8> {
        let mut message = ShareMessage::decode(encoded).expect("own share encodes");
        message.share = self.sign_as(node, message.class, b"not the proposal");
        message.encode()
    }
}

fn acceptance_of(verdict: Verdict) -> Acceptance {
    match verdict {
        Verdict::Accept => Acceptance::Accept,
        Verdict::Reject { .. } => Acceptance::Reject,
        Verdict::Ignore { .. } => Acceptance::Ignore,
    }
}

mod ballot_shell;

/// A node's index from its simulated PeerKey (for reports).
pub fn node_index(key: &PeerKey) -> Option<NodeId> {
    node_of(key)
}

/// The simulator's side of the certify interpreter: the modelled store, the gossip model,
/// the run's statistics and trace, and what a Byzantine member does instead.
struct CertifyShell<'a, S: SimSuite> {
    sim: &'a mut Sim<S>,
    node: NodeId,
    now_ms: u64,
}

impl<S: SimSuite> CertifyEffects for CertifyShell<'_, S> {
    fn persist_signed(
        &mut self,
        slot: &SlotKey,
        id: &ProposalId,
        _share: &[u8],
    ) -> Result<(), JournalError> {
        let sim = &mut self.sim.nodes[self.node as usize];
        // A withholder keeps no record and publishes nothing (see `publish`).
        if withholds(&sim.byzantine) {
            return Ok(());
        }
        sim.store.journal.record_signed(slot, id)
    }

    fn persist_certificate(&mut self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError> {
        self.sim.nodes[self.node as usize]
            .store
            .journal
            .record_certificate(id, encoded);
        Ok(())
    }

    fn persist_evidence(&mut self, _: &Evidence) -> Result<(), JournalError> {
        // Counted in `observe`; no simulated reader asks for the records.
        Ok(())
    }

    fn publish(&mut self, publication: Publication, encoded: Vec<u8>) {
        let node = self.node;
        let byzantine = &self.sim.nodes[node as usize].byzantine;
        match publication {
            Publication::Share => {
                if withholds(byzantine) {
                    return;
                }
                let beyond_rights = byzantine.contains(&Behaviour::ExceedRights);
                let forger = byzantine.contains(&Behaviour::ForgeTokens);
                let invalid = byzantine.contains(&Behaviour::InvalidShares);
                if beyond_rights {
                    self.sim.stats.count_attack("shares_beyond_rights", 1);
                }
                if forger {
                    self.sim.stats.count_attack("forged_shares", 1);
                }
                let encoded = if invalid {
                    self.sim.forged_share(node, &encoded)
                } else {
                    encoded
                };
                self.sim.publish_sealed(node, topics::SHARES, &encoded);
            }
            Publication::Proposal => self.sim.publish_sealed(node, topics::PROPOSALS, &encoded),
            Publication::Certificate => self.sim.publish(node, topics::CERTIFICATES, encoded),
            Publication::Republished => {
                if !withholds(byzantine) {
                    self.sim.publish(node, topics::CERTIFICATES, encoded);
                }
            }
        }
    }

    fn verdict(&mut self, held: HeldShare, verdict: Verdict) {
        if let Some(message) = self.sim.nodes[self.node as usize].held.remove(&held) {
            self.sim.report(self.node, message, acceptance_of(verdict));
        }
    }

    fn observe(&mut self, observation: Observation<'_>) {
        let (node, now_ms) = (self.node, self.now_ms);
        match observation {
            Observation::Certified { id, origin, .. } => {
                self.sim.stats.record_certified(*id, node, now_ms);
                self.sim.trace(format_args!(
                    "certified {node} {} {}",
                    hex::encode(id.0),
                    origin.as_str()
                ));
            }
            Observation::Conflict { slot, ids, .. } => {
                // The second certificate is held here too, with the slot halted.
                self.sim.stats.record_certified(ids[1], node, now_ms);
                self.sim
                    .trace(format_args!("conflict {node} {}/{}", slot.0, slot.1));
            }
            Observation::CertificateRefused {
                verdict: Verdict::Reject { .. },
            } => self.sim.stats.certificates_rejected += 1,
            Observation::Evidence(_) => self.sim.stats.evidence += 1,
            Observation::ShareRefused {
                verdict: Verdict::Reject { .. },
            } => self.sim.stats.shares_rejected += 1,
            Observation::JournalFailed { what, error } => {
                self.sim
                    .trace(format_args!("journal-refused {node} {what}: {error}"));
            }
            Observation::ShareReceived { .. }
            | Observation::ShareRefused { .. }
            | Observation::CertificateRefused { .. }
            | Observation::ProposalRefused { .. }
            | Observation::Dropped { .. } => {}
        }
    }
}
