//! The two caches of a gossip node. The seen cache (upstream `duplicate_cache_time`)
//! decides whether a message is new: only a new one is validated and may be forwarded;
//! it is this node's column of a table the world's nodes share (`crate::seen` says why)
//! and holds at most `SEEN_MAX` ids. The message cache holds recent messages in one
//! window per heartbeat (`history_length` windows) for IWANT answers and IHAVE gossip; a
//! received message enters it on arrival, before validation, as upstream's does.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::{GossipMessage, GossipNode, MessageId, NodeId, SEEN_MAX};

/// One message in the message cache.
pub(super) struct Cached {
    pub(super) message: Rc<GossipMessage>,
    /// Forwarded and offered in IHAVE only once the application accepted it.
    pub(super) validated: bool,
    /// Who sent it first; `None` for own messages.
    pub(super) from: Option<NodeId>,
    /// Peers that sent a copy while it was being validated: it is not forwarded to them.
    pub(super) originating: BTreeSet<NodeId>,
    /// IWANTs answered per peer.
    pub(super) iwant_counts: BTreeMap<NodeId, u32>,
}

impl GossipNode {
    /// Upstream `mcache.put`: a message already in the cache (seen again after its
    /// seen-cache entry expired) stays as it is.
    pub(super) fn put_cached(
        &mut self,
        message: &Rc<GossipMessage>,
        from: Option<NodeId>,
        validated: bool,
    ) {
        let std::collections::hash_map::Entry::Vacant(entry) = self.cached.entry(message.id) else {
            return;
        };
        entry.insert(Cached {
            message: message.clone(),
            validated,
            from,
            originating: BTreeSet::new(),
            iwant_counts: BTreeMap::new(),
        });
        self.windows[0].push(message.id);
        if !validated {
            self.validating_count += 1;
        }
    }

    pub(super) fn uncache(&mut self, id: &MessageId) -> Option<Cached> {
        let cached = self.cached.remove(id)?;
        if !cached.validated {
            self.validating_count -= 1;
        }
        Some(cached)
    }

    pub(super) fn has_seen(&self, id: &MessageId) -> bool {
        self.seen.borrow().contains(self.seen_column, id)
    }

    pub(super) fn mark_seen(&mut self, id: MessageId, now_ms: u64) {
        let mut seen = self.seen.borrow_mut();
        if self.seen_order.len() >= SEEN_MAX {
            if let Some((_, oldest)) = self.seen_order.pop_front() {
                seen.remove(self.seen_column, &oldest);
                self.counters.seen_evicted += 1;
            }
        }
        let new = seen.insert(self.seen_column, id);
        assert!(new, "an id enters the seen cache only when it is not there");
        self.seen_order.push_back((now_ms, id));
        // Upstream: "Consider the message as delivered for gossip promises".
        self.promises.remove(&id);
    }
}
