//! The command table: one [`CommandSpec`] row per command, gathered from the family files, and the
//! case-insensitive lookup dispatch uses.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{CmdResult, Ctx};
use bytes::Bytes;

pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

/// One command: what dispatch checks and what COMMAND INFO / COMMAND DOCS report.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lowercase name; `container|sub` for subcommands (Redis 7 naming).
    pub name: &'static str,
    /// Redis arity: N exact args (name included), or -N for at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions for COMMAND INFO / GETKEYS: first, last (negative counts from the end), step.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
    /// ACL categories as Redis lists them, e.g. `@read @string @fast`.
    pub acl: &'static str,
    /// For container commands (CONFIG, CLIENT, ...): the subcommands; dispatch resolves them.
    pub subcommands: &'static [CommandSpec],
    /// COMMAND DOCS: group, version it appeared in, summary, complexity.
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// Dense index of the row (subcommands included), assigned when the table is built, so that
    /// per-command statistics live in vectors instead of maps keyed by name. `u16::MAX` for a row
    /// that did not come through [`lookup`] (it then keeps no statistics).
    pub id: u16,
}

fn no_handler(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    // Container commands are resolved to a subcommand before any handler runs.
    Err(super::CmdError::Syntax)
}

impl CommandSpec {
    pub const fn new(name: &'static str, arity: i32, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler,
            acl: "",
            subcommands: &[],
            group: "generic",
            since: "1.0.0",
            summary: "",
            complexity: "",
            id: u16::MAX,
        }
    }

    /// A container command (CONFIG, CLIENT, ...) whose subcommands carry the handlers.
    pub const fn container(name: &'static str, subcommands: &'static [CommandSpec]) -> Self {
        let mut c = CommandSpec::new(name, -2, no_handler);
        c.subcommands = subcommands;
        c
    }

    pub const fn flags(mut self, f: u32) -> Self {
        self.flags = f;
        self
    }

    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub const fn acl(mut self, acl: &'static str) -> Self {
        self.acl = acl;
        self
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self.complexity = complexity;
        self
    }

    /// The subcommand part of `container|sub`, or the whole name.
    pub fn sub_name(&self) -> &'static str {
        match self.name.find('|') {
            Some(i) => &self.name[i + 1..],
            None => self.name,
        }
    }

    /// Key positions of this command in `args` (COMMAND GETKEYS, and later cluster/ACL checks).
    pub fn key_indexes(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 || self.step <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let mut v = Vec::new();
        let mut i = self.first_key;
        while i <= last && (i as usize) < argc {
            v.push(i as usize);
            i += self.step;
        }
        v
    }
}

/// Every command family's rows.
pub fn all_families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        super::conn::COMMANDS,
        super::client::COMMANDS,
        super::string::COMMANDS,
        super::keys::COMMANDS,
        super::server::COMMANDS,
        super::config::COMMANDS,
        super::debug::COMMANDS,
        super::dump::COMMANDS,
        super::persist::COMMANDS,
        super::list::COMMANDS,
        super::blocking::COMMANDS,
        super::sort::COMMANDS,
        super::hash::COMMANDS,
        super::set::COMMANDS,
        super::zset::COMMANDS,
        super::tx::COMMANDS,
        super::pubsub::COMMANDS,
        super::repl::COMMANDS,
        super::replicaof::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// The rows as dispatch sees them: copies of the family rows (and of their subcommand rows) with
/// their `id` set, made once and kept for the life of the process.
struct Table {
    top: Vec<&'static CommandSpec>,
    by_id: Vec<&'static CommandSpec>,
    /// Name → row, hashed with foldhash: this lookup runs for every command.
    index: HashMap<&'static [u8], &'static CommandSpec, foldhash::fast::RandomState>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut next: u16 = 0;
        let mut take = |mut c: CommandSpec| {
            c.id = next;
            next += 1;
            c
        };
        let mut rows: Vec<CommandSpec> = Vec::new();
        for c in all_families() {
            let mut row = take(*c);
            if !c.subcommands.is_empty() {
                let subs: Vec<CommandSpec> = c.subcommands.iter().map(|s| take(*s)).collect();
                row.subcommands = Box::leak(subs.into_boxed_slice());
            }
            rows.push(row);
        }
        let rows: &'static [CommandSpec] = Box::leak(rows.into_boxed_slice());
        let mut by_id: Vec<&'static CommandSpec> = Vec::new();
        for r in rows {
            by_id.push(r);
            by_id.extend(r.subcommands.iter());
        }
        by_id.sort_by_key(|c| c.id);
        let mut top: Vec<&'static CommandSpec> = rows.iter().collect();
        top.sort_by_key(|c| c.name);
        let index = rows.iter().map(|c| (c.name.as_bytes(), c)).collect();
        Table { top, by_id, index }
    })
}

/// All top-level commands (COMMAND, COMMAND COUNT, COMMAND LIST), sorted by name.
pub fn all() -> &'static [&'static CommandSpec] {
    &table().top
}

/// Number of rows, subcommands included: the length of the per-command statistics vectors.
pub fn count() -> usize {
    table().by_id.len()
}

/// The row with this dense index.
pub fn by_id(id: usize) -> Option<&'static CommandSpec> {
    table().by_id.get(id).copied()
}

/// Finds a top-level command by name, ignoring ASCII case, without allocating for normal names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().index.get(&buf[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_subcommands_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for c in all_families() {
            assert_eq!(c.name, c.name.to_ascii_lowercase(), "{}", c.name);
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            for s in c.subcommands {
                assert!(s.name.starts_with(&format!("{}|", c.name)), "{}", s.name);
            }
        }
    }

    #[test]
    fn ids_are_dense_and_reach_subcommands() {
        for id in 0..count() {
            assert_eq!(by_id(id).map(|c| c.id as usize), Some(id));
        }
        let config = lookup(b"CONFIG").unwrap();
        let get = config.subcommands.iter().find(|s| s.name == "config|get");
        assert!(get.is_some_and(|s| (s.id as usize) < count()));
        assert!(count() < u16::MAX as usize);
    }
}
