//! The seen caches of all simulated nodes, stored as one table by message.
//!
//! Each node's gossip model asks "have I seen this id?" for every copy and every IHAVE id
//! it receives: about 100 million lookups in a 1,000-node run. Kept per node, as a hash
//! map each, those lookups land in a different node's memory every time (tens of MB in
//! all) and most of them miss the CPU caches. Here a message that some node has seen gets
//! a slot holding one bit per node, and the slots of the messages alive in the network
//! (a few hundred, a few KB each at 10,000 nodes) stay in cache.
//!
//! It changes the layout, not the semantics: each node still decides what enters and
//! leaves its own column (its seen cache: `duplicate_cache_time`, `SEEN_MAX`), and the
//! table only answers for that column. A slot exists exactly while at least one node
//! holds its message, so the table is bounded by the nodes' own bounds.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::gossip::MessageId;

/// One column per node; rows (slots) for the messages some node holds.
pub struct SeenTable {
    columns: usize,
    words_per_slot: usize,
    /// Looked up by id, never iterated: its order never reaches a run.
    slot_of: FxHashMap<MessageId, u32>,
    bits: Vec<u64>,
    /// Columns holding each slot's message; a slot is freed when this reaches zero.
    holders: Vec<u32>,
    free: Vec<u32>,
}

impl SeenTable {
    pub fn new(columns: usize) -> SeenTable {
        assert!(columns > 0);
        SeenTable {
            columns,
            words_per_slot: columns.div_ceil(64),
            slot_of: FxHashMap::default(),
            bits: Vec::new(),
            holders: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A shared table whose columns the nodes of one world use.
    pub fn shared(columns: usize) -> Rc<RefCell<SeenTable>> {
        Rc::new(RefCell::new(SeenTable::new(columns)))
    }

    pub fn contains(&self, column: usize, id: &MessageId) -> bool {
        debug_assert!(column < self.columns);
        let Some(slot) = self.slot_of.get(id) else {
            return false;
        };
        let (word, mask) = self.position(*slot, column);
        self.bits[word] & mask != 0
    }

    /// Marks `id` seen in `column`; false if it was already.
    pub fn insert(&mut self, column: usize, id: MessageId) -> bool {
        assert!(column < self.columns);
        let slot = match self.slot_of.get(&id) {
            Some(slot) => *slot,
            None => {
                let slot = self.allocate();
                self.slot_of.insert(id, slot);
                slot
            }
        };
        let (word, mask) = self.position(slot, column);
        if self.bits[word] & mask != 0 {
            return false;
        }
        self.bits[word] |= mask;
        self.holders[slot as usize] += 1;
        true
    }

    /// Forgets `id` in `column`; false if the column did not hold it.
    pub fn remove(&mut self, column: usize, id: &MessageId) -> bool {
        assert!(column < self.columns);
        let Some(slot) = self.slot_of.get(id).copied() else {
            return false;
        };
        let (word, mask) = self.position(slot, column);
        if self.bits[word] & mask == 0 {
            return false;
        }
        self.bits[word] &= !mask;
        let holders = &mut self.holders[slot as usize];
        *holders -= 1;
        if *holders == 0 {
            self.slot_of.remove(id);
            self.free.push(slot);
        }
        true
    }

    /// Whether some column holds `id`.
    pub fn is_tracked(&self, id: &MessageId) -> bool {
        self.slot_of.contains_key(id)
    }

    /// Messages held by at least one column.
    pub fn slots_used(&self) -> usize {
        self.slot_of.len()
    }

    fn position(&self, slot: u32, column: usize) -> (usize, u64) {
        let word = slot as usize * self.words_per_slot + column / 64;
        (word, 1u64 << (column % 64))
    }

    fn allocate(&mut self) -> u32 {
        if let Some(slot) = self.free.pop() {
            debug_assert_eq!(self.holders[slot as usize], 0);
            return slot;
        }
        let slot = u32::try_from(self.holders.len()).expect("fewer than 2^32 live messages");
        self.holders.push(0);
        self.bits.resize(self.bits.len() + self.words_per_slot, 0);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(author: u32, sequence: u64) -> MessageId {
        MessageId { author, sequence }
    }

    #[test]
    fn columns_are_independent_and_slots_are_freed_with_their_last_holder() {
        let mut table = SeenTable::new(130);
        assert!(table.insert(0, id(1, 1)));
        assert!(!table.insert(0, id(1, 1)), "already seen");
        assert!(table.insert(129, id(1, 1)));
        assert!(table.contains(0, &id(1, 1)));
        assert!(table.contains(129, &id(1, 1)));
        assert!(!table.contains(64, &id(1, 1)));
        assert!(!table.contains(0, &id(1, 2)));
        assert_eq!(table.slots_used(), 1);
        assert!(table.remove(0, &id(1, 1)));
        assert!(!table.remove(0, &id(1, 1)), "not held any more");
        assert!(!table.contains(0, &id(1, 1)));
        assert_eq!(table.slots_used(), 1, "column 129 still holds it");
        assert!(table.remove(129, &id(1, 1)));
        assert_eq!(table.slots_used(), 0);
        // A freed slot is reused clean: nobody has seen the new message.
        assert!(table.insert(5, id(2, 7)));
        assert!(!table.contains(129, &id(2, 7)));
        assert!(!table.contains(0, &id(2, 7)));
        assert_eq!(table.bits.len(), table.words_per_slot, "one slot, reused");
    }
}
